// "My sessions": the sessions this browser created (or was given a presenter link to), kept
// in localStorage by roles.js, not on the server: links, last activity, and a delete that
// forgets a session here (its token with it; the server keeps the session for followers).

import { el } from "./dom.js";
import { forget, links, mySessions } from "./roles.js";

function when(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? "" : new Date(t).toLocaleString();
}

export class SessionsList {
  constructor(current) {
    this.current = current;   // () -> the session in view
    this.dialog = el("dialog", { class: "sessions", "data-testid": "sessions",
                                 "aria-label": "My sessions" });
    document.body.append(this.dialog);
  }

  open() {
    this.render();
    this.dialog.showModal();
  }

  render() {
    const all = Object.entries(mySessions())
      .sort(([, a], [, b]) => String(b.last).localeCompare(String(a.last)));
    const rows = all.map(([id, s]) => {
      const l = links(id);
      const del = el("button", { type: "button", "data-testid": "session-forget",
                                 title: "Forget this session and its token in this browser" },
                     "Delete");
      del.addEventListener("click", () => { forget(id); this.render(); });
      return el("tr", { "data-testid": "session-row", "data-session": id },
        el("td", {}, el("a", { href: l.follower }, s.title || id),
           id === this.current() ? " (open)" : ""),
        el("td", {}, when(s.last)),
        el("td", {}, el("a", { href: l.follower, "data-testid": "session-follower-link" },
                        "follower link")),
        el("td", {}, del));
    });
    const close = el("button", { type: "button" }, "Close");
    close.addEventListener("click", () => this.dialog.close());
    this.dialog.replaceChildren(
      el("h2", {}, "My sessions"),
      el("p", {}, "Kept in this browser only. You present these; a session's follower link " +
                  "can be shared."),
      rows.length
        ? el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "session"),
                                              el("th", {}, "last activity"), el("th", {}, "share"),
                                              el("th", {}, ""))),
             el("tbody", {}, ...rows))
        : el("p", { "data-testid": "sessions-empty" }, "None yet."),
      close);
  }
}
