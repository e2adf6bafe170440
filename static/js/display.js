// What the grid shows: the store's state with the deltas the animation has not played yet
// taken back. Every change reaches the store as a delta carrying `old`, so the value of a
// field before the first unplayed delta that touches it is that delta's `old`.
// A migration's deltas cover every frame of a large guest, and the animation asks again
// after each frame it plays: the held-back values are kept per (host, field) in typed
// arrays indexed by MFN or PFN, and each delta's packed arrays are unpacked once.
import { unpack } from "./deltas.js";

const unpacked = new WeakMap();   // packed array object -> its items

// A packed array's items, unpacked once per array object (asof.js shares the cache).
export function items(v) {
  if (Array.isArray(v)) return v;
  let out = unpacked.get(v);
  if (!out) { out = unpack(v); unpacked.set(v, out); }
  return out;
}

// Held-back values of one field: pos[i] >= 0 when slot i is held back, at values[pos[i]].
class Slots {
  constructor(length) {
    this.pos = new Int32Array(length).fill(-1);
    this.values = [];
  }

  // The first unplayed delta to touch a slot gives its value.
  hold(i, old) {
    if (i < 0 || i >= this.pos.length || this.pos[i] >= 0) return false;
    this.pos[i] = this.values.length;
    this.values.push(old);
    return true;
  }

  get(i, truth) {
    const p = i >= 0 && i < this.pos.length ? this.pos[i] : -1;
    return p >= 0 ? this.values[p] : truth;
  }
}

// The held-back state: `size` values in all (0: the grid shows the store as it is).
class Overlay {
  constructor(store) {
    this.store = store;
    this.size = 0;
    this.slots = new Map();     // host -> {what: Slots}: "f:field", "m2p", "p2m", "dirty"
    this.scalars = new Map();   // "host:cr3", "guest:host"
  }

  slotsOf(host, what) {
    let byHost = this.slots.get(host);
    if (!byHost) { byHost = {}; this.slots.set(host, byHost); }
    if (!byHost[what]) {
      const h = this.store.hosts[host];
      const byPfn = what === "p2m" || what === "dirty";
      byHost[what] = new Slots(byPfn ? this.store.guest.pages : h ? h.frames : 0);
    }
    return byHost[what];
  }

  holdAll(host, what, indices, olds) {
    const s = this.slotsOf(host, what);
    for (let k = 0; k < indices.length; k += 1) {
      if (s.hold(indices[k], typeof olds === "function" ? olds(k) : olds[k])) this.size += 1;
    }
  }

  holdScalar(key, old) {
    if (this.scalars.has(key)) return;
    this.scalars.set(key, old);
    this.size += 1;
  }

  get(host, what, i, truth) {
    const s = this.slots.get(host)?.[what];
    return s ? s.get(i, truth) : truth;
  }

  scalar(key, truth) {
    return this.scalars.size && this.scalars.has(key) ? this.scalars.get(key) : truth;
  }

  add(d, migration) {
    switch (d.kind) {
      case "frame": this.holdAll(d.host, `f:${d.field}`, [d.mfn], [d.old]); break;
      case "frames": this.holdAll(d.host, `f:${d.field}`, items(d.mfns), items(d.old)); break;
      case "m2p": this.holdAll(d.host, "m2p", [d.mfn], [d.old]); break;
      case "m2p_many": this.holdAll(d.host, "m2p", items(d.mfns), items(d.old)); break;
      case "p2m": this.holdAll(d.host, "p2m", [d.pfn], [d.old]); break;
      case "p2m_many": this.holdAll(d.host, "p2m", items(d.pfns), items(d.old)); break;
      case "cr3": this.holdScalar(`${d.host}:cr3`, d.old); break;
      case "domain": this.holdScalar(`${d.host}:${d.field}`, d.old); break;
      case "dirty": this.holdAll(d.host, "dirty", [d.pfn], [false]); break;
      case "dirty_many": this.holdAll(d.host, "dirty", items(d.pfns), () => false); break;
      case "dirty_clean": this.holdAll(d.host, "dirty", items(d.pfns), () => true); break;
      case "migration":
        if (d.event === "resumed") this.holdScalar("guest:host", migration.src);
        break;
      default: break;
    }
  }
}

const FRAME_FIELDS = ["owner", "type", "count", "type_count", "allocated", "validated",
                      "pinned", "partial", "partial_set"].map((f) => [f, `f:${f}`]);

export class DisplayState {
  constructor(store) {
    this.store = store;
    this.overlay = new Overlay(store);
  }

  // deltas: every delta not played yet, oldest first
  holdBack(deltas) {
    this.overlay = new Overlay(this.store);
    for (const d of deltas) this.overlay.add(d, this.store.migration);
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
