// Presenter or follower (docs/classroom.md). Creating a session returns its presenter token;
// this browser keeps it in localStorage (never in the page, a cookie or a URL sent to the
// server) and adds it to the calls that change a session. A presenter link carries the token
// in the URL fragment (#token=...), which browsers never send to a server: it is taken into
// localStorage and removed from the address bar at once.

const KEY = "pvframes.sessions";
const CHANGES = new Set(["step", "run", "presenter"]);

function load() {
  try {
    const all = JSON.parse(localStorage.getItem(KEY) || "{}");
    return all && typeof all === "object" ? all : {};
  } catch {
    return {};
  }
}

function save(all) {
  try { localStorage.setItem(KEY, JSON.stringify(all)); } catch { /* private mode: tab only */ }
}

// {id: {token, created, last, title}} of the sessions this browser created or was given.
export const mySessions = () => load();

export function remember(id, token, title = "") {
  if (!id || !token) return;
  const all = load();
  const now = new Date().toISOString();
  all[id] = { ...(all[id] || { created: now }), token, last: now, title: title || all[id]?.title || "" };
  save(all);
}

export function touch(id, title) {
  const all = load();
  if (!all[id]) return;
  all[id].last = new Date().toISOString();
  if (title) all[id].title = title;
  save(all);
}

export function forget(id) {
  const all = load();
  delete all[id];
  save(all);
}

export const tokenFor = (id) => load()[id]?.token ?? null;

// createSession's answer: keep the token, hand the rest on.
export function keepToken(created) {
  if (created && created.token) remember(created.id, created.token);
  return created;
}

// POST /api/compare's answer: whoever made the pair presents both sessions.
export function keepPairTokens(pair) {
  for (const key of ["a", "b"]) {
    if (pair && pair.tokens && pair.tokens[key]) remember(pair[key], pair.tokens[key]);
  }
  return pair;
}

// A presenter link (#token=...): keep the token, take it out of the address bar.
export function takeFragmentToken() {
  const url = new URL(window.location.href);
  const hash = new URLSearchParams(url.hash.slice(1));
  const token = hash.get("token");
  const id = url.searchParams.get("session");
  if (!token) return;
  if (id) remember(id, token);
  url.hash = "";
  window.history.replaceState(null, "", url);
}

// Links to the session in view: the follower's (read-only) and, for its presenter, the
// presenter's own (for a second device).
export function links(id) {
  const base = `${window.location.origin}/?session=${encodeURIComponent(id)}`;
  const token = tokenFor(id);
  return { follower: base, presenter: token ? `${base}#token=${token}` : null };
}

// Calls that change a session carry its token, unless the page is read-only.
export function addTokens(link, readOnly) {
  const call = link.call.bind(link);
  link.call = (name, payload) => {
    if (!readOnly() && CHANGES.has(name) && payload && payload.session && !("token" in payload)) {
      const token = tokenFor(payload.session);
      if (token) payload = { ...payload, token };
    }
    const answer = call(name, payload);
    // A fork is a new session whose token is this page's (a follower's detach, too).
    return name === "fork" ? answer.then(keepToken) : answer;
  };
}
