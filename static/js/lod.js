// Level of detail for a large guest or host: one block per 512 PFNs (the pages one L1
// maps) or 512 MFNs, its majority type and marks, kept in typed arrays. Blocks are recomputed only when an event
// touches them, a few at a time (refresh() takes a time budget), so a 2^20-page guest never
// holds the main thread for long.
import { FLAG, packedLength, unpackInts } from "./deltas.js";
import { OUTCOME } from "./store.js";
import { PAGE_TABLE_TYPES } from "./types.js";

export const BLOCK = 512;   // PFNs per block: one L1's worth
export const BW = 32;       // a block is drawn as BW x BH cells
export const BH = 16;
export const MARK = { tables: 1, devalidated: 2, stale: 4, lost: 8 };
const MANY = 1 << 15;       // a delta touching more PFNs than this dirties every block

export class BlockModel {
  // mode: "guest" (blocks of PFNs, each shown by its frame) or a host name (blocks of MFNs);
  // view: the state shown (display.js: the store less the deltas an animation has not
  // played yet), or null for the store's state as it is.
  constructor(store, mode = "guest", view = null) {
    this.store = store;
    this.mode = mode;
    this.view = view;
    this.pages = 0;
    this.blocks = 0;
    this.version = 0;   // bumped whenever a block changes (the view caches its image on it)
    store.on("load", () => this.reset());
    store.on("seek", () => this.markAll());
    store.on("event", (event) => this.noteEvent(event));
    view?.onChange((deltas) => this.noteShown(deltas));
  }

  // Class of a cell: a type index of store.types (the guest's frames), `free` (no frame:
  // ballooned or lost; a free MFN) or `foreign` (another domain's MFN).
  get free() { return this.store.types.length; }
  get foreign() { return this.store.types.length + 1; }

  count() {
    return this.mode === "guest" ? this.store.guest.pages : this.store.hosts[this.mode].frames;
  }

  // The host whose frames the blocks show (the guest's moves when a migration resumes it).
  get host() {
    if (this.mode !== "guest") return this.mode;
    return this.view ? this.view.guestHost : this.store.guest.host;
  }

  reset() {
    this.pages = this.count();
    this.blocks = Math.ceil(this.pages / BLOCK);
    this.majority = new Uint8Array(this.blocks);
    this.marks = new Uint8Array(this.blocks);
    this.counts = new Uint32Array(this.store.types.length + 2);
    this.tableType = new Uint8Array(this.store.types.length + 2);
    this.store.types.forEach((t, i) => { this.tableType[i] = PAGE_TABLE_TYPES.has(t) ? 1 : 0; });
    this.typeIndex = new Map(this.store.types.map((t, i) => [t, i]));
    this.dirty = new Uint8Array(this.blocks);
    this.markAll();
  }

  markAll() {
    if (!this.dirty) return;
    this.dirty.fill(1);
    this.pending = this.blocks;
    this.next = 0;
  }

  // index: a PFN (guest mode) or an MFN (host mode)
  markPfn(pfn) {
    const b = pfn >> 9;
    if (b >= 0 && b < this.blocks && !this.dirty[b]) { this.dirty[b] = 1; this.pending += 1; }
  }

  // Every cell a packed array of cells names (toCell: MFN -> cells, or null when the
  // values are cells already). Ranges of consecutive cells mark their blocks at once.
  markCells(v, toCell = null) {
    if (v === null || v === undefined) return;
    if (typeof v === "number") { if (toCell) toCell(v); else this.markPfn(v); return; }
    if (!toCell && v.runs) {
      const r = v.runs;
      for (let i = 0; i < r.length; i += 3) {
        const [first, count, step] = [r[i], r[i + 1], r[i + 2]];
        if (!count) continue;
        if (Math.abs(step) !== 1) {
          for (let k = 0; k < count; k += 1) this.markPfn(first + k * step);
          continue;
        }
        const last = first + (count - 1) * step;
        for (let b = Math.min(first, last) >> 9; b <= Math.max(first, last) >> 9; b += 1) {
          this.markPfn(b * BLOCK);
        }
      }
      return;
    }
    if (packedLength(v) > MANY) { this.markAll(); return; }   // cheaper than reading them
    const cells = unpackInts(v);
    for (let k = 0; k < cells.length && this.pending < this.blocks; k += 1) {
      if (toCell) toCell(cells[k]); else this.markPfn(cells[k]);
    }
  }

  // Which blocks deltas touch, from the deltas themselves (not a rescan). m2pOf(mfn): the
  // PFNs a frame of `host` stands for in guest mode (a frame's cell moves with its M2P).
  noteDeltas(deltas, host, m2pOf, everything) {
    const guest = this.mode === "guest";
    const byMfn = guest ? (mfn) => { for (const p of m2pOf(mfn)) this.markPfn(p); } : null;
    for (const d of deltas) {
      if (d.kind === "migration") {   // moves the guest, decides badges: everything
        if (everything.has(d.event)) { this.markAll(); return; }
        continue;
      }
      if (d.host !== host) continue;
      if (this.pending >= this.blocks) return;
      switch (d.kind) {
        case "p2m": case "p2m_many":
          if (guest) this.markCells(d.pfn ?? d.pfns);
          break;
        case "m2p": case "m2p_many":   // old and new are PFNs: both cells change
          if (guest) { this.markCells(d.old); this.markCells(d.new); }
          else this.markCells(d.mfn ?? d.mfns);
          break;
        case "frame": case "frames":   // (contents, dirty bits: not in a block's summary)
          this.markCells(d.mfn ?? d.mfns, byMfn);
          break;
        case "cr3":
          for (const mfn of [d.old, d.new]) {
            if (mfn === null || mfn === undefined) continue;
            if (guest) byMfn(mfn); else this.markPfn(mfn);
          }
          break;
        default: break;
      }
    }
  }

  // An event the store applied.
  noteEvent(event) {
    if (!this.dirty) return;
    const host = this.mode === "guest" ? this.store.guest.host : this.mode;
    const m2p = this.store.hosts[host]?.m2p;
    this.noteDeltas(event.deltas || [], host, (mfn) => [m2p ? m2p[mfn] : -1], STORE_WIDE);
  }

  // What the view shows changed (an animation played deltas, or held them back).
  noteShown(deltas) {
    if (!this.dirty) return;
    if (deltas === null) { this.markAll(); return; }
    const host = this.host;
    const m2p = this.store.hosts[host]?.m2p;
    const held = this.mode === "guest" ? this.view.heldReader(host, "m2p") : null;
    this.noteDeltas(deltas, host, (mfn) => [m2p ? m2p[mfn] : -1, held ? held(mfn) ?? -1 : -1],
                    SHOWN_WIDE);
  }

  // Readers of the state the blocks show, per cell: the view's held-back values where the
  // animation holds some, else the store's columns.
  readers() {
    const { store } = this;
    const host = this.host;
    const h = store.hosts[host];
    const v = this.view;
    const held = (what) => (v ? v.heldReader(host, what) : null);
    const [p2mH, ownerH, typeH, validH, m2pH] =
      ["p2m", "f:owner", "f:type", "f:validated", "m2p"].map(held);
    const guest = h.owners.indexOf("guest");
    const freeOwner = h.owners.indexOf("free");
    const p2m = h.p2m || [];
    const { typeIndex } = this;
    return {
      host, h,
      p2m: p2mH ? (pfn) => p2mH(pfn) ?? p2m[pfn] : (pfn) => p2m[pfn],
      // 0: the guest's, 1: free, 2: another domain's
      owner: ownerH
        ? (mfn) => { const o = ownerH(mfn); return o === undefined ? ownerClass(h.owner[mfn], guest, freeOwner)
          : o === "guest" ? 0 : o === "free" ? 1 : 2; }
        : (mfn) => ownerClass(h.owner[mfn], guest, freeOwner),
      type: typeH ? (mfn) => { const t = typeH(mfn); return t === undefined ? h.type[mfn] : typeIndex.get(t) ?? 0; }
        : (mfn) => h.type[mfn],
      validated: validH ? (mfn) => { const x = validH(mfn); return x === undefined ? Boolean(h.flags[mfn] & FLAG.validated) : Boolean(x); }
        : (mfn) => Boolean(h.flags[mfn] & FLAG.validated),
      m2p: m2pH ? (mfn) => m2pH(mfn) ?? h.m2p[mfn] : (mfn) => h.m2p[mfn],
    };
  }

  // A host's frames: MFN i is cell i.
  computeHostBlock(b, r) {
    const { counts, tableType } = this;
    const m = this.store.migration;
    counts.fill(0);
    let marks = 0;
    const end = Math.min(this.pages, (b + 1) * BLOCK);
    for (let mfn = b * BLOCK; mfn < end; mfn += 1) {
      const o = r.owner(mfn);
      if (o) { counts[o === 1 ? this.free : this.foreign] += 1; continue; }
      const t = r.type(mfn);
      counts[t] += 1;
      if (tableType[t]) {
        marks |= MARK.tables;
        if (!r.validated(mfn)) marks |= MARK.devalidated;
        if (this.mode === m.dst && m.outcome && m.outcome[r.m2p(mfn)] === OUTCOME.raw) marks |= MARK.stale;
      }
    }
    return marks;
  }

  computeBlock(b, r = this.readers()) {
    if (this.mode !== "guest") {
      const marks = this.computeHostBlock(b, r);
      this.setMajority(b, marks);
      return;
    }
    const { counts, tableType } = this;
    const m = this.store.migration;
    const free = this.free;
    const onDst = r.host === m.dst;
    counts.fill(0);
    let marks = 0;
    const end = Math.min(this.pages, (b + 1) * BLOCK);
    for (let pfn = b * BLOCK; pfn < end; pfn += 1) {
      const mfn = r.p2m(pfn);
      if (mfn === undefined || mfn < 0 || r.owner(mfn) !== 0) {
        counts[free] += 1;
        if (m.lost.has(pfn)) marks |= MARK.lost;
        continue;
      }
      const t = r.type(mfn);
      counts[t] += 1;
      if (tableType[t]) {
        marks |= MARK.tables;
        if (!r.validated(mfn)) marks |= MARK.devalidated;
        // a page table that went raw keeps its source MFNs: stale entries (Case 2)
        if (onDst && m.outcome && m.outcome[pfn] === OUTCOME.raw) marks |= MARK.stale;
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
    // held values still being put in place: blocks computed now would mix two moments
    if (this.view?.settling) return false;
    const until = performance.now() + budgetMs;
    const readers = this.readers();
    let changed = false;
    for (let k = 0; k < this.blocks && this.pending; k += 1) {
      const b = (this.next + k) % this.blocks;
      if (!this.dirty[b]) continue;
      this.computeBlock(b, readers);
      this.dirty[b] = 0;
      this.pending -= 1;
      changed = true;
      if ((k & 7) === 7 && performance.now() > until) { this.next = b + 1; break; }
    }
    if (changed) this.version += 1;
    return this.pending === 0;
  }

  // Class of each cell (its frame's type index, free or foreign) as shown, for cells drawn
  // small: classifier()(i), the readers taken once per drawing.
  classifier() {
    const r = this.readers();
    if (this.mode === "guest") {
      return (i) => {
        const mfn = r.p2m(i);
        return mfn >= 0 && r.owner(mfn) === 0 ? r.type(mfn) : this.free;
      };
    }
    return (i) => {
      const o = r.owner(i);
      return o === 0 ? r.type(i) : o === 1 ? this.free : this.foreign;
    };
  }

  // Everything at once (tests, and a first paint that wants complete blocks).
  refreshAll() { while (!this.refresh(1e9)); }
}

function ownerClass(o, guest, free) { return o === guest ? 0 : o === free ? 1 : 2; }

// Migration notes after which every block may differ: for the store (an applied event
// moves the guest and decides badges) and for the animation (the guest resumed elsewhere).
const STORE_WIDE = new Set(["phase", "batch", "lost", "resumed"]);
const SHOWN_WIDE = new Set(["resumed"]);

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
