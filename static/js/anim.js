// Animation of each event's deltas, after the store has applied them: consecutive deltas
// of the same Xen function form one frame. The grid (through display.js) shows the state
// as of the last frame played, rings the cells the current frame changes, and the ticker
// says what changed; migration batches fly from source cells to destination cells.
// Skipping (or clicking the grid) shows the true state at once.
import { deltaText, unpackHead } from "./deltas.js";
import { describeStep } from "./steps.js";

const SPEEDS = [0, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 10, 20];   // animation frames per second
const MAX_CELLS = 256;
const MAX_BACKLOG = 60;   // frames waiting to play before whole earlier events are dropped

// The frames a delta touches: [{host, mfn}].
function cellsOf(d, store) {
  const many = (host, mfns) => mfns.slice(0, MAX_CELLS).map((mfn) => ({ host, mfn }));
  const head = (v) => unpackHead(v, MAX_CELLS);   // a delta may cover a million frames
  switch (d.kind) {
    case "frame": case "entry": case "page": case "m2p": case "dirty":
      return [{ host: d.host, mfn: d.mfn }];
    case "frames": case "m2p_many": case "pages": return many(d.host, head(d.mfns));
    case "p2m": return [{ host: d.host, mfn: d.new >= 0 ? d.new : d.old }];
    case "p2m_many": {
      const old = head(d.old);
      return many(d.host, head(d.new).map((m, i) => (m >= 0 ? m : old[i])));
    }
    case "cr3": return [{ host: d.host, mfn: d.new ?? d.old }];
    case "migration":
      if (d.event === "batch") return many(store.migration.src || "source", unpackHead(d.mfns, 4 * MAX_CELLS).filter((m) => m >= 0));
      if (d.event === "localise") return many(store.migration.dst || "destination", head(d.mfns));
      if (d.mfn !== undefined) return [{ host: store.migration.dst || "destination", mfn: d.mfn }];
      return [];
    default: return [];
  }
}

// Migration notes that are steps of the story: each is a frame of its own.
const STANDALONE = new Set(["phase", "batch", "vcpu", "failed", "resumed", "defer"]);
const FOLD_AT = 4;   // a run of this many frames alternating between two functions is folded

const keyOf = (d) => (d.kind === "migration" ? `${d.fn || "migration"}:${d.event}` : d.fn || d.kind);
const alone = (d) => d.kind === "migration" && STANDALONE.has(d.event);

// Consecutive deltas from the same function are one animation frame; a long run of frames
// that alternate between two functions (get_page_from_l1e / _get_page_type while an L1 is
// validated, localise / process_page_data for each page table restored) is folded into
// one frame, so that no part of an event has to be dropped to keep up.
export function framesOf(event, store) {
  const groups = [];
  event.deltas.forEach((d, i) => {
    const last = groups[groups.length - 1];
    if (last && !alone(d) && !last.alone && last.keys[0] === keyOf(d)) {
      last.deltas.push(d);
    } else {
      groups.push({ keys: [keyOf(d)], fn: d.fn || d.kind, kind: d.kind, deltas: [d], alone: alone(d) });
    }
    groups[groups.length - 1].upto = i + 1;
  });
  const frames = [];
  for (let i = 0; i < groups.length;) {
    const pair = new Set([groups[i].keys[0]]);
    let j = i + 1;
    while (j < groups.length && !groups[i].alone && !groups[j].alone &&
           (pair.has(groups[j].keys[0]) || pair.size < 2)) {
      pair.add(groups[j].keys[0]);
      j += 1;
    }
    if (j - i >= FOLD_AT) {
      const run = groups.slice(i, j);
      frames.push({ fn: [...new Set(run.map((g) => g.fn))].join(" / "), kind: "fold",
                    deltas: run.flatMap((g) => g.deltas), upto: run[run.length - 1].upto,
                    folded: run.length });
      i = j;
    } else {
      frames.push(groups[i]);
      i += 1;
    }
  }
  return frames.map((f) => ({
    ...f,
    text: f.folded
      ? `${f.deltas.length} changes in ${f.folded} steps, from ${deltaText(f.deltas[0])}`
      : deltaText(f.deltas[0]) + (f.deltas.length > 1 ? ` (+${f.deltas.length - 1} more)` : ""),
    cells: f.deltas.flatMap((d) => cellsOf(d, store)).slice(0, MAX_CELLS),
    batch: f.kind === "migration" && f.deltas[0].event === "batch" ? f.deltas[0] : null,
  }));
}

export class Animator {
  // display: DisplayState the grid draws; locate(host, mfn) -> {x, y} client centre or null
  constructor(controls, overlay, store, display, ui, locate) {
    Object.assign(this, { controls, overlay, store, display, ui, locate });
    this.queue = [];
    this.timer = null;
    this.speed = controls.querySelector("[data-testid=anim-speed]");
    this.speedText = controls.querySelector("[data-testid=anim-speed-text]");
    this.ticker = controls.querySelector("[data-testid=anim-ticker]");
    this.speed.addEventListener("input", () => this.showSpeed());
    controls.querySelector("[data-testid=anim-skip]").addEventListener("click", () => this.skip());
    this.pauseButton = controls.querySelector("[data-testid=anim-pause]");
    this.pauseButton.addEventListener("click", () => this.togglePause());
    this.paused = false;   // held at the group shown: a lecturer explains it, then resumes
    this.pauseButton.disabled = true;
    store.on("event", (ev) => this.enqueue(ev));
    store.on("load", () => this.skip());
    this.showSpeed();
  }

  get fps() { return SPEEDS[Number(this.speed.value)]; }

  get busy() { return this.timer !== null || this.queue.length > 0 || this.paused; }

  showSpeed() {
    this.speedText.textContent = this.fps ? `${this.fps} steps/s` : "off";
  }

  enqueue(event) {
    const frames = framesOf(event, this.store);
    const head = `#${event.seq} ${describeStep(event.step)}`;
    if (!this.fps || !frames.length) {
      this.ticker.textContent = `${head}: ${event.deltas.length} change(s)`;
      return;
    }
    frames.forEach((f, i) => this.queue.push({ ...f, head, event, n: i + 1, of: frames.length }));
    this.display.hold(event.deltas);   // the grid shows the state before this event too
    // Running a whole scenario must not leave the animation minutes behind: drop whole
    // earlier events, never the start of one (the newest is always played in full).
    while (this.queue.length > MAX_BACKLOG && this.queue[0].event !== event) {
      const old = this.queue[0].event;
      while (this.queue.length && this.queue[0].event === old) this.display.played(this.queue.shift().deltas);
    }
    // The first frame in a task of its own: receiving a large event is work enough.
    if (!this.timer && !this.paused) this.timer = setTimeout(() => this.next(), 0);
  }

  // Pause at the group being shown (every panel stays as of it), or play on from there.
  togglePause() {
    if (this.paused) {
      this.setPaused(false);
      this.clearOverlay();
      this.next();
    } else if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
      this.setPaused(true);
      this.ticker.textContent = `${this.ticker.textContent} — paused (k resumes)`;
    }
  }

  setPaused(paused) {
    this.paused = paused;
    this.pauseButton.setAttribute("aria-pressed", String(paused));
    this.pauseButton.firstChild.textContent = paused ? "Resume " : "Pause ";
    this.pauseButton.disabled = !this.busy;   // nothing playing: nothing to pause
  }

  // Play `event` again from its delta `from` (the store shows the state after it): the
  // frames before `from` count as played.
  replay(event, from = 0) {
    this.skip();
    const frames = framesOf(event, this.store);
    const head = `#${event.seq} ${describeStep(event.step)} (replay)`;
    frames.forEach((f, i) => {
      if (f.upto > from) this.queue.push({ ...f, head, event, n: i + 1, of: frames.length });
    });
    this.holdBack();
    if (this.queue.length && !this.paused) this.next();
  }

  // The grid shows everything but the deltas still queued.
  holdBack() { this.display.holdBack(this.queue.flatMap((f) => f.deltas)); }

  next() {
    const frame = this.queue.shift();
    if (frame) this.display.played(frame.deltas);   // shown as of this frame: O(its deltas)
    else this.holdBack();
    if (!frame) {
      this.timer = null;
      this.current = null;
      this.pauseButton.disabled = true;
      this.ui.setFlashes([], true);
      this.onPlayed?.(null);
      return;
    }
    this.current = frame;
    this.pauseButton.disabled = false;
    this.onPlayed?.(frame.event, frame.upto, frame);   // panels show the state as of this frame
    const key = frame.batch ? " — diamonds: page tables normalised, dots: pages sent raw" : "";
    this.ticker.textContent = `${frame.head} — ${frame.fn}: ${frame.text} (${frame.n}/${frame.of})${key}`;
    const label = frame.kind === "frame" ? `${frame.deltas[0].field}` : "";
    this.ui.setFlashes(frame.cells.map((c, i) => ({ ...c, label: i === 0 ? label : "" })), true);
    // A batch is the heart of a migration round: give its flight more time.
    const ms = (1000 / (this.fps || 20)) * (frame.batch ? 3 : 1);
    if (frame.batch) this.fly(frame.batch, ms);
    this.timer = setTimeout(() => this.next(), ms);
  }

  skip() {
    const wasBusy = this.busy;
    if (wasBusy) {
      this.ticker.textContent = `Animation skipped: showing the state after #${this.store.seq}.`;
    }
    clearTimeout(this.timer);
    this.timer = null;
    this.queue = [];
    this.current = null;
    this.setPaused(false);
    this.holdBack();
    this.ui.setFlashes([], wasBusy);   // the grid drew a held-back state: redraw it
    this.clearOverlay();
    if (wasBusy) this.onPlayed?.(null);   // panels too (nothing played: they show the state)
  }

  clearOverlay() {
    const ctx = this.overlay.getContext("2d");
    ctx.clearRect(0, 0, this.overlay.width, this.overlay.height);
  }

  // Dots travel from each sent PFN's source frame to its destination frame.
  fly(batch, ms) {
    const m = this.store.migration;
    const dstP2m = this.store.hosts[m.dst]?.p2m;
    const paths = [];
    const [mfns, actions] = [unpackHead(batch.mfns, MAX_CELLS), unpackHead(batch.actions, MAX_CELLS)];
    unpackHead(batch.pfns, MAX_CELLS).forEach((pfn, i) => {
      const from = mfns[i] >= 0 ? this.locate(m.src, mfns[i], true) : null;
      const to = dstP2m && dstP2m[pfn] >= 0 ? this.locate(m.dst, dstP2m[pfn], true) : null;
      if (from && to) paths.push([from, to, actions[i]]);
    });
    if (!paths.length) return;
    const rect = this.overlay.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    this.overlay.width = rect.width * dpr;
    this.overlay.height = rect.height * dpr;
    const ctx = this.overlay.getContext("2d");
    const start = performance.now();
    const step = (now) => {
      const t = Math.min(1, (now - start) / ms);
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, rect.width, rect.height);
      for (const [a, b, action] of paths) {
        const x = a.x + (b.x - a.x) * t - rect.left;
        const y = a.y + (b.y - a.y) * t - rect.top;
        // A faint trail from where the page left, so the flight reads as a movement.
        ctx.strokeStyle = "rgba(0, 0, 0, 0.18)";
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        ctx.moveTo(a.x - rect.left, a.y - rect.top);
        ctx.lineTo(x, y);
        ctx.stroke();
        if (action === "normalised") {   // a page table, MFNs turned into PFNs: a diamond
          ctx.fillStyle = "#e69f00";
          ctx.strokeStyle = "#111";
          ctx.lineWidth = 2;
          ctx.beginPath();
          ctx.moveTo(x, y - 9); ctx.lineTo(x + 9, y); ctx.lineTo(x, y + 9); ctx.lineTo(x - 9, y);
          ctx.closePath();
          ctx.fill();
          ctx.stroke();
        } else {                         // sent raw (or deferred / XTAB): a small dot
          ctx.fillStyle = action === "raw" ? "#0072b2" : "#999";
          ctx.beginPath();
          ctx.arc(x, y, 4, 0, Math.PI * 2);
          ctx.fill();
        }
      }
      this.overlay.dataset.painted = String(paths.length);
      if (t < 1 && this.timer) requestAnimationFrame(step);
      else if (!this.paused) this.clearOverlay();   // paused: the flight stays where it is
    };
    requestAnimationFrame(step);
  }
}
