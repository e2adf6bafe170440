// Level of detail for a large guest or host: one block per 512 PFNs (the pages one L1
// maps) or 512 MFNs, its majority type and marks, kept in typed arrays. Blocks are recomputed only when an event
// touches them, a few at a time (refresh() takes a time budget), so a 2^20-page guest never
// holds the main thread for long.
import { FLAG, unpack } from "./deltas.js";
import { OUTCOME } from "./store.js";
import { PAGE_TABLE_TYPES } from "./types.js";

export const BLOCK = 512;   // PFNs per block: one L1's worth
export const BW = 32;       // a block is drawn as BW x BH cells
export const BH = 16;
export const MARK = { tables: 1, devalidated: 2, stale: 4, lost: 8 };
const MANY = 1 << 15;       // a delta touching more PFNs than this dirties every block

export class BlockModel {
  // mode: "guest" (blocks of PFNs, each shown by its frame) or a host name (blocks of MFNs)
  constructor(store, mode = "guest") {
    this.store = store;
    this.mode = mode;
    this.pages = 0;
    this.blocks = 0;
    this.version = 0;   // bumped whenever a block changes (the view caches its image on it)
    store.on("load", () => this.reset());
    store.on("seek", () => this.markAll());
    store.on("event", (event) => this.noteEvent(event));
  }

  // Class of a cell: a type index of store.types (the guest's frames), `free` (no frame:
  // ballooned or lost; a free MFN) or `foreign` (another domain's MFN).
  get free() { return this.store.types.length; }
  get foreign() { return this.store.types.length + 1; }

  count() {
    return this.mode === "guest" ? this.store.guest.pages : this.store.hosts[this.mode].frames;
  }

  reset() {
    this.pages = this.count();
    this.blocks = Math.ceil(this.pages / BLOCK);
    this.majority = new Uint8Array(this.blocks);
    this.marks = new Uint8Array(this.blocks);
    this.counts = new Uint32Array(this.store.types.length + 2);
    this.tableType = new Uint8Array(this.store.types.length + 2);
    this.store.types.forEach((t, i) => { this.tableType[i] = PAGE_TABLE_TYPES.has(t) ? 1 : 0; });
    this.dirty = new Uint8Array(this.blocks);
    this.markAll();
  }

  markAll() {
    if (!this.dirty) return;
    this.dirty.fill(1);
    this.pending = this.blocks;
    this.next = 0;
  }

  markPfn(pfn) {
    const b = pfn >> 9;
    if (b >= 0 && b < this.blocks && !this.dirty[b]) { this.dirty[b] = 1; this.pending += 1; }
  }

  // Which blocks an event's deltas touch, from the deltas themselves (not a rescan).
  noteEvent(event) {
    if (!this.dirty) return;
    if (this.mode !== "guest") { this.noteHostEvent(event); return; }
    const host = this.store.guest.host;
    const m2p = this.store.hosts[host]?.m2p;
    for (const d of event.deltas || []) {
      if (d.kind === "migration") {   // moves the guest, decides badges: everything
        if (["phase", "batch", "lost", "resumed"].includes(d.event)) { this.markAll(); return; }
        continue;
      }
      if (d.host !== host) continue;
      if (d.kind === "p2m") this.markPfn(d.pfn);
      else if (d.kind === "frame" || d.kind === "m2p") this.markPfn(m2p[d.mfn]);
      else if (d.kind === "p2m_many" || d.kind === "dirty_many" || d.kind === "dirty_clean") {
        const pfns = unpack(d.pfns);
        if (pfns.length > MANY) { this.markAll(); return; }
        for (const p of pfns) this.markPfn(p);
      } else if (d.kind === "frames" || d.kind === "m2p_many") {
        const mfns = unpack(d.mfns);
        if (mfns.length > MANY) { this.markAll(); return; }
        for (const mfn of mfns) this.markPfn(m2p[mfn]);
      } else if (d.kind === "cr3") {
        this.markPfn(m2p[d.old]);
        this.markPfn(m2p[d.new]);
      }
    }
  }

  noteHostEvent(event) {
    for (const d of event.deltas || []) {
      if (d.kind === "migration") {
        if (["phase", "batch", "lost", "resumed"].includes(d.event)) { this.markAll(); return; }
        continue;
      }
      if (d.host !== this.mode) continue;
      if (d.kind === "frame" || d.kind === "m2p") this.markPfn(d.mfn);
      else if (d.kind === "frames" || d.kind === "m2p_many" || d.kind === "pages") {
        const mfns = unpack(d.mfns);
        if (mfns.length > MANY) { this.markAll(); return; }
        for (const mfn of mfns) this.markPfn(mfn);
      } else if (d.kind === "cr3") {
        this.markPfn(d.old);
        this.markPfn(d.new);
      }
    }
  }

  // A host's frames: MFN i is cell i.
  computeHostBlock(b) {
    const { store, counts, tableType } = this;
    const h = store.hosts[this.mode];
    const guest = h.owners.indexOf("guest");
    const freeOwner = h.owners.indexOf("free");
    const m = store.migration;
    counts.fill(0);
    let marks = 0;
    const end = Math.min(this.pages, (b + 1) * BLOCK);
    for (let mfn = b * BLOCK; mfn < end; mfn += 1) {
      const o = h.owner[mfn];
      if (o !== guest) { counts[o === freeOwner ? this.free : this.foreign] += 1; continue; }
      const t = h.type[mfn];
      counts[t] += 1;
      if (tableType[t]) {
        marks |= MARK.tables;
        if (!(h.flags[mfn] & FLAG.validated)) marks |= MARK.devalidated;
        if (this.mode === m.dst && m.outcome && m.outcome[h.m2p[mfn]] === OUTCOME.raw) marks |= MARK.stale;
      }
    }
    return marks;
  }

  computeBlock(b) {
    if (this.mode !== "guest") {
      const marks = this.computeHostBlock(b);
      this.setMajority(b, marks);
      return;
    }
    const { store, counts, tableType } = this;
    const h = store.hosts[store.guest.host];
    const p2m = h.p2m || [];
    const guest = h.owners.indexOf("guest");
    const m = store.migration;
    const free = this.free;
    counts.fill(0);
    let marks = 0;
    const end = Math.min(this.pages, (b + 1) * BLOCK);
    for (let pfn = b * BLOCK; pfn < end; pfn += 1) {
      const mfn = p2m[pfn];
      if (mfn === undefined || mfn < 0 || h.owner[mfn] !== guest) {
        counts[free] += 1;
        if (m.lost.has(pfn)) marks |= MARK.lost;
        continue;
      }
      const t = h.type[mfn];
      counts[t] += 1;
      if (tableType[t]) {
        marks |= MARK.tables;
        if (!(h.flags[mfn] & FLAG.validated)) marks |= MARK.devalidated;
        // a page table that went raw keeps its source MFNs: stale entries (Case 2)
        if (m.outcome && m.outcome[pfn] === OUTCOME.raw && store.guest.host === m.dst) marks |= MARK.stale;
      }
      if (m.lost.has(pfn)) marks |= MARK.lost;
    }
    this.setMajority(b, marks);
  }

  setMajority(b, marks) {
    const { counts } = this;
    let best = 0;
    for (let t = 1; t < counts.length; t += 1) if (counts[t] > counts[best]) best = t;
    this.majority[b] = best;
    this.marks[b] = marks;
  }

  // Recompute dirty blocks until `budgetMs` has passed; true when none is left.
  refresh(budgetMs = 8) {
    if (!this.dirty || !this.pending) return true;
    const until = performance.now() + budgetMs;
    let changed = false;
    for (let k = 0; k < this.blocks && this.pending; k += 1) {
      const b = (this.next + k) % this.blocks;
      if (!this.dirty[b]) continue;
      this.computeBlock(b);
      this.dirty[b] = 0;
      this.pending -= 1;
      changed = true;
      if ((k & 7) === 7 && performance.now() > until) { this.next = b + 1; break; }
    }
    if (changed) this.version += 1;
    return this.pending === 0;
  }

  // Class of cell i (its frame's type index, free or foreign), for cells drawn small.
  classAt(i) {
    const { store } = this;
    if (this.mode === "guest") {
      const h = store.hosts[store.guest.host];
      const mfn = h.p2m ? h.p2m[i] : -1;
      return mfn >= 0 && h.owners[h.owner[mfn]] === "guest" ? h.type[mfn] : this.free;
    }
    const h = store.hosts[this.mode];
    const owner = h.owners[h.owner[i]];
    if (owner === "guest") return h.type[i];
    return owner === "free" ? this.free : this.foreign;
  }

  // Everything at once (tests, and a first paint that wants complete blocks).
  refreshAll() { while (!this.refresh(1e9)); }
}

// PFN <-> cell position in the block-major layout: blocks of BW x BH cells, `cols` blocks a
// row, PFNs row by row inside their block.
export function blockColumns(pages) {
  const blocks = Math.ceil(pages / BLOCK);
  let cols = 1;   // the power of two giving the squarest picture
  while (cols * BW < Math.ceil(blocks / cols) * BH) cols *= 2;
  return Math.min(cols, blocks);
}

export function cellOf(pfn, cols) {
  const b = Math.floor(pfn / BLOCK);
  const w = pfn % BLOCK;
  return { x: (b % cols) * BW + (w % BW), y: Math.floor(b / cols) * BH + Math.floor(w / BW) };
}

export function pfnAt(x, y, cols, pages) {
  if (x < 0 || y < 0 || x >= cols * BW) return null;
  const b = Math.floor(y / BH) * cols + Math.floor(x / BW);
  const pfn = b * BLOCK + (y % BH) * BW + (x % BW);
  return pfn < pages ? pfn : null;
}
