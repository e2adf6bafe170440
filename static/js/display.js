// What the grid shows: the store's state with the deltas the animation has not played yet
// taken back. Every change reaches the store as a delta carrying `old`, so the value of a
// field before the first unplayed delta that touches it is that delta's `old`.
// A migration's deltas cover every frame of a large guest: the held-back values are kept
// per (host, field) in typed arrays indexed by MFN or PFN, an event's deltas are held once
// when it is queued, and a frame played moves its slots on to its deltas' `new` values
// (which are the `old` of any later delta on the same slot): work in proportion to the
// deltas, never to the queue times the frames.
import { packedLength, unpackInts } from "./deltas.js";

// A packed array (or one value for all) read item by item in increasing order, without
// expanding it: runs and run-length values are walked segment by segment.
function reader(v) {
  if (v === null || typeof v !== "object") return () => v;
  if (Array.isArray(v)) return (k) => v[k];
  if (v.i32 !== undefined) {
    const a = unpackInts(v);
    return (k) => a[k];
  }
  const [flat, stride] = v.runs ? [v.runs, 3] : [v.rle, 2];
  let seg = 0;
  let start = 0;
  return (k) => {
    if (k < start) { seg = 0; start = 0; }
    while (seg < flat.length && k >= start + flat[seg + 1]) { start += flat[seg + 1]; seg += stride; }
    return stride === 3 ? flat[seg] + (k - start) * flat[seg + 2] : flat[seg];
  };
}

// Held-back values of one field: pos[i] > 0 when slot i is held back, at values[pos[i] - 1]
// (0 for "not held": a new Int32Array needs no filling). Integer fields (M2P, P2M, counts)
// keep theirs in an Int32Array by slot instead: a million held values are no garbage.
class Slots {
  constructor(length, numeric) {
    this.pos = new Int32Array(length);
    this.numeric = numeric;
    this.values = numeric ? new Int32Array(length) : [];
  }

  get(i, truth) {
    const p = i >= 0 && i < this.pos.length ? this.pos[i] : 0;
    if (!p) return truth;
    return this.numeric ? this.values[i] : this.values[p - 1];
  }
}

const NUMERIC = new Set(["m2p", "p2m", "f:count", "f:type_count"]);

const SLICE_MS = 8;     // work on held values per task before yielding to the page
const CHUNK = 4096;     // slots between looks at the clock

// The held-back state. Holding an event's deltas and playing a frame's are queued jobs
// over (host, field, slots, values), done in slices of SLICE_MS so that a migration of a
// million pages never holds the main thread: while jobs remain, a slot not reached yet
// shows the store's value (the LOD grid's blocks wait until they are done: lod.js).
class Overlay {
  constructor(store, onSettled) {
    this.store = store;
    this.onSettled = onSettled;
    this.held = 0;
    this.slots = new Map();     // host -> {what: Slots}: "f:field", "m2p", "p2m", "dirty"
    this.scalars = new Map();   // "host:cr3", "guest:host"
    this.jobs = [];             // {hold, s, n, index(k), value(k), k}
    this.timer = null;
  }

  // Something is held back, or will be once the queued jobs are done.
  get size() { return this.held + this.jobs.length; }

  slotsOf(host, what) {
    let byHost = this.slots.get(host);
    if (!byHost) { byHost = {}; this.slots.set(host, byHost); }
    if (!byHost[what]) {
      const h = this.store.hosts[host];
      const byPfn = what === "p2m" || what === "dirty";
      byHost[what] = new Slots(byPfn ? this.store.guest.pages : h ? h.frames : 0, NUMERIC.has(what));
    }
    return byHost[what];
  }

  // hold: the first unplayed delta to touch a slot gives its value (its `old`); play: a
  // delta played shows its `new` on the slots it holds.
  queue(hold, host, what, indices, values) {
    const n = typeof indices === "object" ? packedLength(indices) : 1;
    if (!n) return;
    // decoded when the job is reached (in a slice of its own), not when it is queued
    this.jobs.push({ hold, s: this.slotsOf(host, what), n, k: 0, indices, values, idx: null });
    this.pump();
  }

  pump() {
    if (this.timer !== null) return;
    const until = performance.now() + SLICE_MS;
    while (this.jobs.length) {
      const job = this.jobs[0];
      if (!job.idx) {
        const v = job.values;
        job.idx = typeof job.indices === "object" ? unpackInts(job.indices) : [job.indices];
        // numbers (M2P, P2M, counts) decoded whole; names and flags read a run at a time
        job.vals = Array.isArray(v) ? v
          : v !== null && typeof v === "object" && !v.rle ? unpackInts(v) : null;
        job.value = job.vals ? null : reader(v);
      }
      const { s, idx, vals, value } = job;
      const { pos, values, numeric } = s;
      const end = Math.min(job.n, job.k + CHUNK);
      for (let k = job.k; k < end; k += 1) {
        const i = idx[k];
        if (i < 0 || i >= pos.length) continue;
        if (job.hold) {
          if (pos[i]) continue;
          this.held += 1;
          if (numeric) { pos[i] = 1; values[i] = vals ? vals[k] : value(k); continue; }
          values.push(vals ? vals[k] : value(k));
          pos[i] = values.length;
        } else if (pos[i]) {
          if (numeric) values[i] = vals ? vals[k] : value(k);
          else values[pos[i] - 1] = vals ? vals[k] : value(k);
        }
      }
      job.k = end;
      if (end === job.n) this.jobs.shift();
      if (performance.now() > until && this.jobs.length) {
        this.sliced = true;
        this.timer = setTimeout(() => { this.timer = null; this.pump(); }, 0);
        return;
      }
    }
    if (this.sliced) {   // done in the background: what is drawn may have moved on
      this.sliced = false;
      this.onSettled?.();
    }
  }

  cancel() {
    clearTimeout(this.timer);
    this.jobs = [];
  }

  holdScalar(key, old) {
    if (this.scalars.has(key)) return;
    this.scalars.set(key, old);
    this.held += 1;
  }

  setScalar(key, value) {
    if (this.scalars.has(key)) this.scalars.set(key, value);
  }

  get(host, what, i, truth) {
    const s = this.slots.get(host)?.[what];
    return s ? s.get(i, truth) : truth;
  }

  scalar(key, truth) {
    return this.scalars.size && this.scalars.has(key) ? this.scalars.get(key) : truth;
  }

  // A delta not played yet (hold: its old values) or just played (its new values).
  apply(d, hold, migration) {
    const v = hold ? d.old : d.new;
    const q = (what, indices, values) => this.queue(hold, d.host, what, indices, values);
    switch (d.kind) {
      case "frame": q(`f:${d.field}`, d.mfn, v); break;
      case "frames": q(`f:${d.field}`, d.mfns, v); break;
      case "m2p": q("m2p", d.mfn, v); break;
      case "m2p_many": q("m2p", d.mfns, v); break;
      case "p2m": q("p2m", d.pfn, v); break;
      case "p2m_many": q("p2m", d.pfns, v); break;
      case "dirty": q("dirty", d.pfn, !hold); break;
      case "dirty_many": q("dirty", d.pfns, !hold); break;
      case "dirty_clean": q("dirty", d.pfns, hold); break;
      case "cr3":
        if (hold) this.holdScalar(`${d.host}:cr3`, d.old);
        else this.setScalar(`${d.host}:cr3`, d.new);
        break;
      case "domain":   // log_dirty, paused, suspended
        if (hold) this.holdScalar(`${d.host}:${d.field}`, d.old);
        else this.setScalar(`${d.host}:${d.field}`, d.new);
        break;
      case "migration":
        if (d.event !== "resumed") break;
        if (hold) this.holdScalar("guest:host", migration.src);
        else this.setScalar("guest:host", d.host);
        break;
      default: break;
    }
  }
}

const FRAME_FIELDS = ["owner", "type", "count", "type_count", "allocated", "validated",
                      "pinned", "partial", "partial_set"].map((f) => [f, `f:${f}`]);

export class DisplayState {
  // onSettled: called when held values queued in slices are all in place (redraw)
  constructor(store, onSettled = null) {
    this.store = store;
    this.onSettled = onSettled;
    this.listeners = [];
    this.overlay = new Overlay(store, () => this.onSettled?.());
  }

  // fn(deltas): what is shown changed where `deltas` touch (null: anywhere), for views
  // that keep summaries of it (lod.js: blocks of 512 cells).
  onChange(fn) { this.listeners.push(fn); }

  changed(deltas) { for (const fn of this.listeners) fn(deltas); }

  // deltas: every delta not played yet, oldest first (none: show the store as it is)
  holdBack(deltas) {
    this.overlay.cancel();
    this.overlay = new Overlay(this.store, () => this.onSettled?.());
    for (const d of deltas) this.overlay.apply(d, true, this.store.migration);
    this.changed(null);
  }

  // More deltas not played yet, after those already held (a newly queued event).
  hold(deltas) {
    for (const d of deltas) this.overlay.apply(d, true, this.store.migration);
    this.changed(deltas);
  }

  // Deltas played, oldest first: from the start of what is held.
  played(deltas) {
    for (const d of deltas) this.overlay.apply(d, false, this.store.migration);
    this.changed(deltas);
  }

  // Held values still being put in place (in slices): what is shown is not settled yet.
  get settling() { return this.overlay.jobs.length > 0; }

  // The held-back value of slot i of (host, what) ("f:type", "p2m", ...), or undefined
  // when it shows the store's; null when nothing of that kind is held.
  heldReader(host, what) {
    const s = this.overlay.size ? this.overlay.slots.get(host)?.[what] : null;
    if (!s) return null;
    const { pos, values, numeric } = s;
    return numeric ? (i) => (pos[i] ? values[i] : undefined)
      : (i) => (pos[i] ? values[pos[i] - 1] : undefined);
  }

  get guestHost() { return this.overlay.scalar("guest:host", this.store.guest.host); }

  // A domain field of a host (log_dirty, paused, suspended) as shown.
  domain(host, field) {
    const h = this.store.hosts[host];
    return this.overlay.scalar(`${host}:${field}`, h ? Boolean(h[field]) : false);
  }

  get guestStopped() {
    const host = this.guestHost;
    return this.domain(host, "paused") || this.domain(host, "suspended");
  }

  frame(host, mfn) {
    const f = this.store.frame(host, mfn);
    const o = this.overlay;
    if (!f || !o.size) return f;
    const held = o.slots.get(host);
    if (held) for (const [field, what] of FRAME_FIELDS) if (held[what]) f[field] = held[what].get(mfn, f[field]);
    const m2p = o.get(host, "m2p", mfn, this.store.hosts[host].m2p[mfn]);
    f.pfn = f.owner === "guest" && m2p >= 0 ? m2p : null;
    f.base = o.scalar(`${host}:cr3`, this.store.hosts[host].cr3) === mfn;
    f.dirty = f.pfn !== null && o.get(host, "dirty", f.pfn, this.store.hosts[host].dirty.has(f.pfn));
    return f;
  }

  guestFrame(pfn) {
    const host = this.guestHost;
    const p2m = this.store.hosts[host].p2m;
    const mfn = this.overlay.get(host, "p2m", pfn, p2m ? p2m[pfn] : -1);
    return mfn >= 0 ? this.frame(host, mfn) : null;
  }

  // Owner name of a frame: cheap when nothing is held back (folding asks for every frame).
  ownerName(host, mfn) {
    const h = this.store.hosts[host];
    const truth = h.owners[h.owner[mfn]];
    return this.overlay.size ? this.overlay.get(host, "f:owner", mfn, truth) : truth;
  }
}
