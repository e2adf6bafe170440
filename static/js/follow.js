// The class bar: which role this page has, and following the presenter (docs/classroom.md).
// A presenter's page shares what it shows (moment, view, selected frame, narration) as a
// `presenter` state; a follower's page shows the presenter's steps (they arrive as events)
// and applies each state once it holds the events up to it. A follower may detach to a
// private copy of the current state (its own presenter token) and come back to the class.
// A link to a moment (?seq=N) is read-only and does not follow.

import { createSession, exportUrl } from "./api.js";
import { el } from "./dom.js";
import { keepToken, links, tokenFor, touch } from "./roles.js";

const POLL_MS = 3000;   // the presenter's audience count
const SEND_MS = 60;     // coalesce a burst of changes into one state

function params() { return new URL(window.location.href).searchParams; }

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.dataset.copied = "1";
  } catch {
    window.prompt("Copy this link", text);   // no clipboard (http, old browser)
  }
}

export class Follow {
  // openSession(id): the page's; readOnly: a moment link (?seq=N)
  constructor(bar, { store, ui, link, tour, openSession }) {
    Object.assign(this, { store, ui, link, tour, openSession });
    this.readOnly = params().has("seq");
    this.waiting = null;    // a state for a seq this page does not hold yet
    this.applying = false;  // changing the view ourselves: not a presenter's change
    this.audience = 0;
    this.root = el("div", { class: "classbar", "data-testid": "classbar" });
    bar.append(this.root);
    this.link.socket.on("presenter", (msg) => {
      if (msg && msg.session === this.store.sessionId) this.receive(msg.state);
    });
    this.store.on("load", () => this.loaded());
    this.store.on("event", () => { this.flush(); this.share(); });
    this.ui.on((what) => { if (what === "selected" || what === "view") this.share(); });
    window.setInterval(() => this.poll(), POLL_MS);
  }

  get role() {
    if (this.readOnly) return "viewer";
    return tokenFor(this.store.sessionId) ? "presenter" : "follower";
  }

  get classId() { return params().get("class"); }

  async loaded() {
    document.body.dataset.role = this.role;
    touch(this.store.sessionId, this.store.meta?.title);
    this.render();
    if (this.role === "follower") {
      const ack = await this.link.call("follow", { session: this.store.sessionId }).catch(() => null);
      if (ack && ack.state) this.receive(ack.state);
    } else if (this.role === "presenter") {
      this.share();
    }
    if (this.readOnly) this.openMoment();
  }

  // ---- follower ---------------------------------------------------------------------------
  receive(state) {
    if (this.role !== "follower" || !state) return;
    if (state.seq > this.store.seq && !this.canSeek()) {
      this.waiting = state;   // its events are on their way, in order
      return;
    }
    this.waiting = null;
    this.apply(state);
  }

  flush() {
    if (this.waiting && this.waiting.seq <= this.store.seq) this.receive(this.waiting);
  }

  canSeek() { return typeof window.pvframes?.seek === "function"; }

  apply(state) {
    this.applying = true;
    try {
      if (this.canSeek() && state.seq !== this.store.seq) window.pvframes.seek(state.seq);
      if (state.view && state.view !== this.ui.view && state.view !== "compare") {
        this.ui.setView(state.view);
      }
      const s = state.selected;
      const cur = this.ui.selected;
      if (!s && cur) this.ui.select(null);
      else if (s && (!cur || cur.host !== s.host || cur.mfn !== s.mfn)) {
        this.ui.select(s.host, s.mfn, s.guestPfn);
      }
      if (state.narration && this.tour) {
        this.tour.narration = state.narration;
        if (!this.tour.on) this.tour.setOn(true); else this.tour.render();
      }
      document.body.dataset.followSeq = String(state.seq);
    } finally {
      this.applying = false;
    }
  }

  async detach() {
    const shared = this.store.sessionId;
    const seq = this.store.seq;
    const yaml = await fetch(exportUrl(shared)).then((r) => r.text());
    // A private copy: the shared session's steps as a script, run to where the class is.
    const created = keepToken(await createSession({ scenario: yaml }));
    const url = new URL(window.location.href);
    url.searchParams.set("class", shared);
    window.history.replaceState(null, "", url);
    await this.openSession(created.id);
    if (seq > 0) await this.link.run("all");
  }

  back() {
    const shared = this.classId;
    const url = new URL(window.location.href);
    url.searchParams.delete("class");
    window.history.replaceState(null, "", url);
    return this.openSession(shared);
  }

  // ---- presenter --------------------------------------------------------------------------
  share() {
    if (this.role !== "presenter" || this.applying || this.classId) return;
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.send(), SEND_MS);
  }

  state() {
    const sel = this.ui.selected;
    return {
      seq: this.store.seq,
      view: this.ui.view,
      selected: sel ? { host: sel.host, mfn: sel.mfn, guestPfn: sel.guestPfn ?? null } : null,
      narration: this.tour && this.tour.on && this.tour.narration ? this.tour.narration : null,
    };
  }

  async send() {
    if (!this.link.socket.connected || !this.store.sessionId) return;
    const ack = await this.link.call("presenter", { session: this.store.sessionId,
                                                    state: this.state() }).catch(() => null);
    if (ack) this.setAudience(ack.audience);
  }

  async poll() {
    if (this.role !== "presenter" || !this.link.socket.connected || !this.store.sessionId) return;
    const ack = await this.link.call("audience", { session: this.store.sessionId }).catch(() => null);
    if (ack) this.setAudience(ack.audience);
  }

  setAudience(n) {
    if (n === this.audience) return;
    this.audience = n;
    this.render();
  }

  // ---- moments ----------------------------------------------------------------------------
  momentUrl() {
    const url = new URL(`${window.location.origin}/`);
    url.searchParams.set("session", this.store.sessionId);
    url.searchParams.set("seq", String(this.store.seq));
    url.searchParams.set("view", this.ui.view);
    const sel = this.ui.selected;
    if (sel) url.searchParams.set("frame", `${sel.host}:${sel.mfn}`);
    return url.toString();
  }

  openMoment() {
    const p = params();
    const seq = Number(p.get("seq"));
    if (this.canSeek() && Number.isInteger(seq) && seq !== this.store.seq) window.pvframes.seek(seq);
    const view = p.get("view");
    if (["guest", "source", "destination", "both"].includes(view)) this.ui.setView(view);
    const [host, mfn] = (p.get("frame") || "").split(":");
    if ((host === "source" || host === "destination") && /^\d+$/.test(mfn || "")) {
      this.ui.select(host, Number(mfn));
    }
    document.body.dataset.momentSeq = String(seq);
  }

  // ---- the bar ----------------------------------------------------------------------------
  button(label, testid, action, title = "") {
    const b = el("button", { type: "button", "data-testid": testid, title }, label);
    b.addEventListener("click", () => action(b));
    return b;
  }

  render() {
    const role = this.role;
    const parts = [];
    if (this.classId && role === "presenter") {
      parts.push(el("span", { class: "role", "data-testid": "role", "data-role": "explorer" },
                    "Exploring a private copy"),
                 this.button("Back to the class", "back-to-class", () => this.back(),
                             "Return to the live shared session where the presenter is now"));
    } else if (role === "presenter") {
      const n = this.audience;
      parts.push(el("span", { class: "role", "data-testid": "role", "data-role": role },
                    "Presenter"),
                 el("span", { class: "audience", "data-testid": "audience" },
                    `${n} following`),
                 this.button("Copy follower link", "copy-follower",
                             (b) => copy(links(this.store.sessionId).follower, b),
                             "A read-only link for the class: it follows what you show"));
    } else if (role === "follower") {
      parts.push(el("span", { class: "role", "data-testid": "role", "data-role": role },
                    "Following (read-only)"),
                 this.button("Explore on my own", "detach", () => this.detach(),
                             "A private copy of this moment that you can change"));
    } else {
      parts.push(el("span", { class: "role", "data-testid": "role", "data-role": role },
                    `Read-only · seq ${params().get("seq")}`));
    }
    parts.push(this.button("Link to this moment", "copy-moment",
                           (b) => copy(this.momentUrl(), b),
                           "A read-only link that opens this moment, view and frame"));
    this.root.replaceChildren(...parts);
  }
}
