// The timeline: a scrubber over every event of the session with the migration's phases and
// rounds marked, back / forward / Home / End, jump to a seq, and a link to the moment shown.
// Seeking is the store's (checkpoints plus deltas applied or undone); this is its controls.
import { el } from "./dom.js";

// The migration phases an event went through, for its mark on the scrubber.
export function phasesOf(event) {
  const out = [];
  for (const d of event.deltas || []) {
    if (d.kind !== "migration") continue;
    if (d.event === "phase") out.push(d.phase);
    if (d.event === "failed") out.push("failed");
  }
  return out;
}

function markLabel(phases) {
  const rounds = phases.filter((p) => p === "round").length;
  if (phases.length === 1) return phases[0];
  const named = phases.filter((p) => p !== "round");
  return `${named.join("·")}${rounds ? ` +${rounds} round${rounds > 1 ? "s" : ""}` : ""}`;
}

export function momentUrl(sessionId, seq, live) {
  const url = new URL(window.location.href);
  url.search = "";
  url.searchParams.set("session", sessionId);
  if (!live) url.searchParams.set("seq", String(seq));
  return url;
}

export class Timeline {
  // seekAll(n): move the page (every pane) to seq n; head(): the last seq known
  constructor(root, store, seekAll) {
    Object.assign(this, { root, store, seekAll });
    this.range = root.querySelector("[data-testid=tl-range]");
    this.marks = root.querySelector("[data-testid=tl-marks]");
    this.position = root.querySelector("[data-testid=tl-position]");
    this.seqBox = root.querySelector("[data-testid=tl-seq]");
    this.link = root.querySelector("[data-testid=tl-link]");
    this.forkNote = root.querySelector("[data-testid=tl-fork-note]");
    this.pendingSeek = null;
    // The span and the position: one session's (its head, its seq) unless the page sets a
    // wider view (the compare view: the longer of two sessions, a position past one's end).
    this.span = { end: () => store.head, at: () => store.seq, state: null, link: null };
    this.range.addEventListener("input", () => {
      // Dragging fires faster than frames are drawn: seek once per animation frame.
      if (this.pendingSeek === null) {
        requestAnimationFrame(() => {
          const n = this.pendingSeek;
          this.pendingSeek = null;
          this.seekAll(n);
        });
      }
      this.pendingSeek = Number(this.range.value);
    });
    const on = (id, fn) => root.querySelector(`[data-testid=${id}]`).addEventListener("click", fn);
    on("tl-start", () => this.seekAll(0));
    on("tl-back", () => this.step(-1));
    on("tl-forward", () => this.step(1));
    on("tl-end", () => this.seekAll(this.span.end()));
    root.querySelector("[data-testid=tl-jump]").addEventListener("submit", (e) => {
      e.preventDefault();
      if (this.seqBox.value !== "") this.seekAll(Number(this.seqBox.value));
      this.seqBox.blur();
    });
    store.on("load", () => this.render());
    store.on("event", () => this.render());
    store.on("extend", () => this.render());
    store.on("history", () => this.render());
    store.on("seek", () => this.render());
  }

  step(by) { this.seekAll(this.span.at() + by); }

  // An animation is playing event `seq`, group n of `of` (null: none): the panels show
  // that point, part way into the event the scrubber is on.
  showPlaying(playing) {
    this.playing = playing;
    this.showPosition();
  }

  showPosition() {
    const s = this.store;
    const state = !s.index ? "loading the history…" : this.span.state ? this.span.state()
      : s.live ? "live" : "the past: a new step here starts a fork";
    const play = this.playing && this.playing.seq === s.seq
      ? ` · playing #${this.playing.seq}, step ${this.playing.n} of ${this.playing.of}` : "";
    this.position.textContent = `seq ${this.span.at()} of ${this.span.end()} · ${state}${play}`;
    this.root.dataset.playing = play ? `${this.playing.seq}:${this.playing.n}` : "";
  }

  render() {
    const s = this.store;
    if (!s.loaded) return;
    const [at, end] = [this.span.at(), this.span.end()];
    this.range.max = String(end);
    this.range.value = String(at);
    this.range.disabled = !s.index;
    this.seqBox.max = String(end);
    if (document.activeElement !== this.seqBox) this.seqBox.value = String(at);
    this.showPosition();
    this.root.dataset.ready = String(Boolean(s.index));
    this.link.href = (this.span.link ? this.span.link() : momentUrl(s.sessionId, s.seq, false)).toString();
    this.renderMarks();
    this.renderLinks();
  }

  renderMarks() {
    const s = this.store;
    const key = `${s.sessionId}:${s.head}:${s.log.length}:${this.span.end()}`;
    if (key === this.marksKey) return;
    this.marksKey = key;
    const marks = [];
    s.log.forEach((event) => {
      if (!event) return;
      const phases = phasesOf(event);
      if (!phases.length) return;
      const kind = phases.includes("failed") ? "failed" : phases[0];
      const mark = el("span", { class: "mark", "data-kind": kind, "data-seq": String(event.seq),
                                title: `#${event.seq}: ${phases.join(", ")}` }, markLabel(phases));
      mark.style.left = `${(100 * event.seq) / Math.max(1, this.span.end())}%`;
      marks.push(mark);
    });
    this.marks.replaceChildren(...marks);
  }

  renderLinks() {
    const { forkedFrom, forks } = this.store.links || {};
    const parts = [];
    if (forkedFrom) {
      const a = el("a", { href: momentUrl(forkedFrom.session, forkedFrom.seq, false).toString(),
                          "data-testid": "tl-parent" }, `${forkedFrom.session} at seq ${forkedFrom.seq}`);
      parts.push("forked from ", a);
    }
    if (forks && forks.length) {
      parts.push(forkedFrom ? "; " : "", "forks: ");
      forks.slice(-3).forEach((f, i) => {
        if (i) parts.push(", ");
        parts.push(el("a", { href: momentUrl(f.session, f.seq, false).toString() }, `at seq ${f.seq}`));
      });
    }
    this.forkNote.replaceChildren(...parts);
  }
}
