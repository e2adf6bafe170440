// The class bar: which role this page has, and following the presenter (docs/classroom.md).
// A presenter's page shares what it shows (moment, view, selected frame, narration) as a
// `presenter` state; a follower's page shows the presenter's steps (they arrive as events)
// and applies each state once it holds the events up to it. A follower may detach to a
// private copy of the current state (its own presenter token) and come back to the class.
// A link to a moment (?seq=N) is read-only and does not follow.

import { el } from "./dom.js";
import { links, tokenFor, touch } from "./roles.js";
import { SessionsList } from "./sessions.js";
import { exportPng, exportSvg } from "./slides.js";

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
    // The compare view's ?seq is where it opens, not a moment link: roles stay the tokens'.
    this.readOnly = params().has("seq") && !params().has("compare");
    this.momentSeq = params().get("seq");
    // A moment link's view and frame, read now: opening the session rewrites the address.
    this.moment = this.readOnly ? { view: params().get("view"), frame: params().get("frame"),
                                    variant: params().get("variant") } : null;
    this.waiting = null;    // a state for a seq this page does not hold yet
    this.applying = false;  // changing the view ourselves: not a presenter's change
    this.audience = 0;
    this.root = el("div", { class: "classbar", "data-testid": "classbar" });
    this.sessions = new SessionsList(() => this.store.sessionId);
    bar.append(this.root);
    this.link.socket.on("presenter", (msg) => {
      if (msg && msg.session === this.store.sessionId) this.receive(msg.state);
    });
    // After a Wi-Fi blip: the link has already asked to rejoin (its handler runs first and
    // the server handles a connection's messages in order), so ask where the class is now.
    this.link.socket.on("connect", () => this.reconnected());
    this.presenting = null;  // the session this page last presented
    this.store.on("load", () => this.loaded());
    this.store.on("event", () => { this.flush(); this.share(); });
    this.store.on("extend", () => this.flush());
    this.store.on("history", () => this.flush());
    this.store.on("seek", () => this.share());
    this.ui.on((what) => { if (what === "selected" || what === "view") this.share(); });
    window.setInterval(() => this.poll(), POLL_MS);
  }

  get role() {
    if (this.readOnly) return "viewer";
    return tokenFor(this.store.sessionId) ? "presenter" : "follower";
  }

  get classId() { return params().get("class"); }

  async loaded() {
    const id = this.store.sessionId;
    if (this.presenting && this.presenting !== id && this.role === "presenter" && !this.classId) {
      // The presenter moved on (a fork from the past, another variant or scenario): the
      // class follows it there.
      this.link.call("presenter", { session: this.presenting,
                                    state: { seq: 0, moved: id } }).catch(() => null);
    }
    this.presenting = this.role === "presenter" ? id : null;
    document.body.dataset.role = this.role;
    touch(this.store.sessionId, this.store.meta?.title);
    this.render();
    if (this.role === "follower") {
      const ack = await this.link.call("follow", { session: this.store.sessionId }).catch(() => null);
      if (ack && ack.state) this.receive(ack.state);
    } else if (this.role === "presenter") {
      this.share();
    }
    if (this.moment) this.openMoment();
  }

  async reconnected() {
    if (!this.store.loaded) return;   // the first connection: loaded() does this
    if (this.role === "follower") {
      const ack = await this.link.call("follow", { session: this.store.sessionId }).catch(() => null);
      if (ack && ack.state) this.receive(ack.state);
    } else if (this.role === "presenter") {
      this.share();   // the room's state is this page's again
    }
  }

  // ---- follower ---------------------------------------------------------------------------
  receive(state) {
    if (this.role !== "follower" || !state) return;
    if (state.moved) {
      this.waiting = null;
      this.openSession(state.moved);
      return;
    }
    // Its events are on their way, in order, or the history is still loading.
    if (state.seq > this.store.head || (state.seq !== this.store.seq && !this.store.index)) {
      this.waiting = state;
      return;
    }
    this.waiting = null;
    this.apply(state);
  }

  flush() {
    if (this.waiting) this.receive(this.waiting);
  }

  apply(state) {
    this.applying = true;
    try {
      if (state.seq !== this.store.seq) window.pvframes.seek(state.seq);
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

  // A private fork of the moment in view (its token is this page's: roles.js keeps it).
  async detach() {
    const shared = this.store.sessionId;
    const forked = await this.link.fork(this.store.seq);
    await this.openSession(forked.id);
    const url = new URL(window.location.href);
    url.searchParams.set("class", shared);
    window.history.replaceState(null, "", url);
    this.render();
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
    touch(this.store.sessionId);   // last activity, for "My sessions"
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
    url.searchParams.set("variant", this.store.meta.xen);
    return url.toString();
  }

  async openMoment() {
    // The timeline seeks to ?seq=N itself once the history is loaded (app.js).
    const { view, frame, variant } = this.moment;
    this.moment = null;   // once: later loads are other sessions
    if ((variant === "patched" || variant === "unpatched") && variant !== this.store.meta.xen) {
      // The same history under the other Xen (a copy: the shared session is not changed),
      // at the same moment, still read-only.
      const forked = await this.link.fork(this.store.head, variant).catch(() => null);
      if (forked) await this.openSession(forked.id, Number(this.momentSeq));
    }
    if (["guest", "source", "destination", "both"].includes(view)) this.ui.setView(view);
    const [host, mfn] = (frame || "").split(":");
    if ((host === "source" || host === "destination") && /^\d+$/.test(mfn || "")) {
      this.ui.select(host, Number(mfn));
    }
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
                    this.momentSeq === null ? "Read-only"
                      : `Read-only · opened at seq ${this.momentSeq}`));
    }
    parts.push(this.button("Link to this moment", "copy-moment",
                           (b) => copy(this.momentUrl(), b),
                           "A read-only link that opens this moment, view and frame"));
    parts.push(this.button("SVG", "slide-svg", () => exportSvg(this.store, this.ui),
                           "The grid at this moment as SVG, for a slide"),
               this.button("PNG", "slide-png", () => exportPng(this.store, this.ui),
                           "The grid at this moment as PNG, for a slide"));
    parts.push(this.button("My sessions", "sessions-open", () => this.sessions.open(),
                           "The sessions this browser created, with their links"));
    this.root.replaceChildren(...parts);
  }
}
