// What the grid shows: the store's state with the deltas the animation has not played yet
// taken back. Every change reaches the store as a delta carrying `old`, so the value of a
// field before the first unplayed delta that touches it is that delta's `old`.
import { unpack } from "./deltas.js";

function keysOf(d, migration) {
  switch (d.kind) {
    case "frame": return [[`${d.host}:${d.mfn}:${d.field}`, d.old]];
    case "frames": {
      const old = unpack(d.old);
      return unpack(d.mfns).map((mfn, i) => [`${d.host}:${mfn}:${d.field}`, old[i]]);
    }
    case "m2p": return [[`${d.host}:m2p:${d.mfn}`, d.old]];
    case "m2p_many": {
      const old = unpack(d.old);
      return unpack(d.mfns).map((mfn, i) => [`${d.host}:m2p:${mfn}`, old[i]]);
    }
    case "p2m": return [[`${d.host}:p2m:${d.pfn}`, d.old]];
    case "p2m_many": {
      const old = unpack(d.old);
      return unpack(d.pfns).map((pfn, i) => [`${d.host}:p2m:${pfn}`, old[i]]);
    }
    case "cr3": return [[`${d.host}:cr3`, d.old]];
    case "dirty": return [[`${d.host}:dirty:${d.pfn}`, false]];
    case "dirty_many": return unpack(d.pfns).map((pfn) => [`${d.host}:dirty:${pfn}`, false]);
    case "dirty_clean": return unpack(d.pfns).map((pfn) => [`${d.host}:dirty:${pfn}`, true]);
    case "migration":
      return d.event === "resumed" ? [["guest:host", migration.src]] : [];
    default: return [];
  }
}

const FRAME_FIELDS = ["owner", "type", "count", "type_count", "allocated", "validated",
                      "pinned", "partial", "partial_set"];

export class DisplayState {
  constructor(store) {
    this.store = store;
    this.overlay = new Map();
  }

  // deltas: every delta not played yet, oldest first
  holdBack(deltas) {
    this.overlay = new Map();
    for (const d of deltas) {
      for (const [key, old] of keysOf(d, this.store.migration)) {
        if (!this.overlay.has(key)) this.overlay.set(key, old);
      }
    }
  }

  get(key, truth) { return this.overlay.has(key) ? this.overlay.get(key) : truth; }

  get guestHost() { return this.get("guest:host", this.store.guest.host); }

  frame(host, mfn) {
    const f = this.store.frame(host, mfn);
    if (!f || !this.overlay.size) return f;
    for (const field of FRAME_FIELDS) f[field] = this.get(`${host}:${mfn}:${field}`, f[field]);
    const m2p = this.get(`${host}:m2p:${mfn}`, this.store.hosts[host].m2p[mfn]);
    f.pfn = f.owner === "guest" && m2p >= 0 ? m2p : null;
    f.base = this.get(`${host}:cr3`, this.store.hosts[host].cr3) === mfn;
    f.dirty = f.pfn !== null && this.get(`${host}:dirty:${f.pfn}`, this.store.hosts[host].dirty.has(f.pfn));
    return f;
  }

  guestFrame(pfn) {
    const host = this.guestHost;
    const p2m = this.store.hosts[host].p2m;
    const mfn = this.get(`${host}:p2m:${pfn}`, p2m ? p2m[pfn] : -1);
    return mfn >= 0 ? this.frame(host, mfn) : null;
  }

  // Owner name of a frame: cheap when nothing is held back (folding asks for every frame).
  ownerName(host, mfn) {
    const h = this.store.hosts[host];
    const truth = h.owners[h.owner[mfn]];
    return this.overlay.size ? this.get(`${host}:${mfn}:owner`, truth) : truth;
  }
}
