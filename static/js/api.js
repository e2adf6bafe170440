// REST calls (docs/protocol.md). Errors come back as {error: {field, message}}.

import { keepPairTokens, keepToken, tokenFor } from "./roles.js";

async function request(method, path, body, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = data.error || { field: null, message: `HTTP ${response.status}` };
    throw Object.assign(new Error(error.message), { field: error.field, status: response.status });
  }
  return data;
}

export const listScenarios = () => request("GET", "/api/scenarios").then((d) => d.scenarios);

// {scenario_file: name, xen} -> {id, seq, snapshot, token, links}; the token is kept (roles.js)
export const createSession = (body) => request("POST", "/api/sessions", body).then(keepToken);

// Every event after `since`, following the server's pages ("more"), each whole: a large
// event comes as a stub (`lazy`) whose body is fetched on its own.
export async function getAllEvents(id, since = 0) {
  const all = [];
  for (;;) {
    const page = await getEvents(id, since);
    all.push(...page.events);
    if (!page.more || !page.events.length) {
      const events = await Promise.all(all.map((e) => (e.lazy ? getEvent(id, e) : e)));
      return { seq: page.seq, events };
    }
    since = page.events[page.events.length - 1].seq;
  }
}

// The whole event behind a stub: its deltas a page at a time (each a few MB at most, so
// that no one parse holds the page), after the stub's own fields.
export async function getEvent(id, stub) {
  const deltas = [];
  for (let from = 0; from !== null;) {
    const page = await request("GET", `/api/sessions/${encodeURIComponent(id)}/events/${stub.seq}?from=${from}`);
    deltas.push(...page.deltas);
    from = page.next;
  }
  const { lazy, ...head } = stub;
  return { ...head, deltas };
}

export const getEvents = (id, since = 0) =>
  request("GET", `/api/sessions/${encodeURIComponent(id)}/events?since=${since}`);

// The frame now, or as of `seq` when the page shows the past.
export const frameDetail = (id, host, mfn, seq = null) =>
  request("GET", `/api/sessions/${encodeURIComponent(id)}/frames/${host}/${mfn}` +
    (seq === null ? "" : `?seq=${seq}`));

// The session as a scenario file; `moment` ({seq, view, frame: "host:mfn"}) becomes its
// position (docs/scenario-extensions.md), so importing the file opens that moment.
export function exportUrl(id, moment = null) {
  const url = `/api/sessions/${encodeURIComponent(id)}/export`;
  if (!moment) return url;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(moment)) if (v !== null && v !== undefined) q.set(k, String(v));
  return `${url}?${q}`;
}

// The snapshot now, or as of `seq`, its arrays packed (docs/protocol.md).
export const getSnapshot = (id, seq = null) =>
  request("GET", `/api/sessions/${encodeURIComponent(id)}?packed=1${seq === null ? "" : `&seq=${seq}`}`);

// {session: id} | {scenario_file} | {scenario_files: [a, b], xen} -> {a, b, tokens, links}:
// new sessions, presented by this browser (their tokens are kept)
export const createCompare = (body) => request("POST", "/api/compare", body).then(keepPairTokens);

// One step on a session through REST (the compare view's second session): {rc, seq, event},
// with the presenter token this browser keeps for it (createCompare kept the pair's).
export const postStep = (id, step) => {
  const token = tokenFor(id);
  return request("POST", `/api/sessions/${encodeURIComponent(id)}/steps`, step,
                 token ? { Authorization: `Bearer ${token}` } : {});
};

// {a, b, divergences: [{n, seq, text, pfns}], state?: {frames, entries, pfinfo, p2m}}
export const getCompare = (a, b, seq = null) =>
  request("GET", `/api/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}` +
    (seq === null ? "" : `&seq=${seq}`));

// {seq, pt_shaped: {host: [mfn]}}: no page table, yet holding page-table entries.
export const getShapes = (id, seq = null) =>
  request("GET", `/api/sessions/${encodeURIComponent(id)}/shapes${seq === null ? "" : `?seq=${seq}`}`);
