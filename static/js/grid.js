// A Canvas grid of frames: one cell per guest PFN ("guest" mode: the frame behind it on
// the host where the guest runs) or one cell per machine frame of a host.
import { drawCell } from "./cell.js";
import { LodView } from "./lodview.js";
import { leftEntries, outcomeOf } from "./store.js";
import { HIGHLIGHT_COLOUR, INK, PAGE_TABLE_TYPES, STALE_COLOUR } from "./types.js";

const MAX_CELL = 64;
const MAX_GHOSTS = 4096;
const DIFF_COLOUR = "#cc79a7";   // Okabe-Ito reddish purple: differs from the other pane
const AXIS = 52;   // left margin for row numbers
const MAX_HOST_CELL = 44;
const BAND = 24;   // height of a folded run of rows
const MAX_ROWS = 256;   // rows drawn at most: 16384 cells at 64 columns keeps a redraw fast

function columnsFor(n) {
  const c = Math.ceil(Math.sqrt(n) / 8) * 8;   // multiples of 8 are easy to count along
  return Math.max(8, Math.min(64, c));
}

export class FrameGrid {
  // mode: "guest" or a host name; onPick(host, mfn, pfn, event, asGuestPfn) on click.
  // `view` (display.js) is the state to draw: the store's, less what is still to animate.
  constructor(canvas, store, view, ui, mode, onPick) {
    Object.assign(this, { canvas, store, view, ui, mode, onPick });
    this.ctx = canvas.getContext("2d");
    this.cell = 16;
    this.gap = 1;
    this.cols = 8;
    canvas.addEventListener("click", (e) => this.click(e));
    canvas.addEventListener("mousemove", (e) => this.hover(e));
    canvas.addEventListener("mouseleave", () => this.onHover(null, null, null));
    this.onHover = () => {};   // (host, mfn, pfn) of the frame under the pointer, or nulls
    this.lod = new LodView(this);   // a large guest or host: zoomable blocks of 512 cells
  }

  get host() { return this.mode === "guest" ? this.view.guestHost : this.mode; }

  count() {
    return this.mode === "guest" ? this.store.guest.pages : this.store.hosts[this.mode].frames;
  }

  // The room the grid may take, in CSS pixels; the cell size follows from it in draw().
  // `big` (present mode): cells may grow as large as the room allows.
  layout(width, maxHeight, big = false) {
    this.avail = { width, maxHeight };
    this.maxCell = big ? 240 : MAX_CELL;
    this.maxHostCell = big ? 96 : MAX_HOST_CELL;
    this.canvas.dataset.cells = String(this.count());
  }

  setPitch(cols, pitch) {
    this.cols = cols;
    this.pitch = Math.max(4, Math.min(this.maxCell || MAX_CELL, pitch));
    this.gap = this.pitch >= 20 ? 3 : 1;
    this.cell = this.pitch - this.gap;
    this.width = AXIS + this.cols * this.pitch;
    this.canvas.dataset.cellSize = String(this.cell);
  }

  // Guest PFNs: a fixed square-ish grid. Host frames: the biggest cells for which the rows
  // left after folding fit the height (folding depends on the state, so this is redone
  // on every draw).
  fit() {
    const { width, maxHeight } = this.avail;
    const n = this.count();
    if (this.mode === "guest") {
      let cols = columnsFor(n);
      const pitchFor = (c) => Math.floor(Math.min((width - AXIS) / c,
                                                  maxHeight / Math.min(MAX_ROWS, Math.ceil(n / c))));
      if (this.maxCell > MAX_CELL) {   // present mode: the column count giving the largest cells
        for (const c of [8, 16, 32, 64]) if (c <= n && pitchFor(c) > pitchFor(cols)) cols = c;
      }
      const rows = Math.min(MAX_ROWS, Math.ceil(n / cols));
      this.setPitch(cols, pitchFor(cols));
      this.planRows();
      return;
    }
    let best = null;   // biggest cells that fit; at equal size, more columns (fewer rows)
    for (let cols = 8; cols <= 64; cols += 8) {
      const pitch = Math.min(this.maxHostCell || MAX_HOST_CELL, Math.floor((width - AXIS) / cols));
      this.setPitch(cols, pitch);
      this.planRows();
      if (this.height <= maxHeight && (!best || pitch >= best.pitch)) best = { cols, pitch };
    }
    if (best) this.setPitch(best.cols, best.pitch);   // else: the last (smallest) try stands
    this.planRows();
  }

  // Rows of a host grid that are all free, or all one other domain's, carry no news: runs
  // of them are folded into one labelled band, unless the selection or an arrow is on them
  // (animation rings are not: folding must not jump about while a step plays).
  planRows() {
    const n = this.count();
    const rows = Math.ceil(n / this.cols);
    const keep = new Set();
    const mark = (host, mfn) => {
      const i = this.indexOf(host, mfn);
      if (i !== null) keep.add(Math.floor(i / this.cols));
    };
    if (this.ui.selected) mark(this.ui.selected.host, this.ui.selected.mfn);
    for (const a of this.ui.arrows) { mark(a.host, a.fromMfn); mark(a.host, a.toMfn); }
    const ghosts = this.ghosts();
    for (const mfn of ghosts.keys()) keep.add(Math.floor(mfn / this.cols));
    const classOf = (r) => {
      if (this.mode === "guest" || keep.has(r)) return null;
      const first = this.view.ownerName(this.mode, r * this.cols);
      if (first === "guest") return null;
      for (let i = r * this.cols; i < Math.min(n, (r + 1) * this.cols); i += 1) {
        if (this.view.ownerName(this.mode, i) !== first) return null;
      }
      return first;
    };
    this.rowY = new Array(rows).fill(null);
    this.bands = [];
    let y = 1;
    let drawn = 0;
    for (let r = 0; r < rows;) {
      if (drawn >= MAX_ROWS) {   // a huge guest or host: draw the start, say what is left out
        const unit = this.mode === "guest" ? "PFN" : "MFN";
        this.bands.push({ y, text: `${unit} ${r * this.cols}–${n - 1} not drawn`,
                          more: " (too many to show; select frames through the console)",
                          rows: [r, rows] });
        y += BAND;
        break;
      }
      const cls = classOf(r);
      let end = r + 1;
      while (cls !== null && end < rows && classOf(end) === cls) end += 1;
      if (cls !== null && end - r >= 2) {
        const last = Math.min(n, end * this.cols) - 1;
        this.bands.push({ y, text: `MFN ${r * this.cols}–${last}: ${cls}`,
                          more: ` (${last - r * this.cols + 1} frames)`, rows: [r, end] });
        y += BAND;
      } else {
        for (; r < end; r += 1) { this.rowY[r] = y; y += this.pitch; drawn += 1; }
        continue;
      }
      r = end;
    }
    this.height = y + 1;
  }

  // Top-left corner and size of cell `i`, in CSS pixels relative to the canvas; null when
  // its row is folded away.
  cellRect(i) {
    if (this.lod?.active()) return this.lod.cellRect(i);
    const y = this.rowY ? this.rowY[Math.floor(i / this.cols)] : null;
    if (y === null || y === undefined) return null;
    return { x: AXIS + (i % this.cols) * this.pitch, y, size: this.cell };
  }

  // Centre of cell `i` in client (viewport) pixels, or null when it is not drawn.
  clientCentre(i) {
    const r = i === null ? null : this.cellRect(i);
    if (!r) return null;
    const box = this.canvas.getBoundingClientRect();
    return { x: box.left + r.x + r.size / 2, y: box.top + r.y + r.size / 2 };
  }

  // Like clientCentre, but a cell in a folded row gives its column's point on the band
  // (a migration batch flies into free frames before they are populated).
  clientPoint(i) {
    const centre = this.clientCentre(i);
    if (centre || i === null) return centre;
    const row = Math.floor(i / this.cols);
    const band = this.bands.find((b) => b.rows && row >= b.rows[0] && row < b.rows[1]);
    if (!band) return null;
    const box = this.canvas.getBoundingClientRect();
    return { x: box.left + AXIS + (i % this.cols) * this.pitch + this.cell / 2,
             y: box.top + band.y + BAND / 2 };
  }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(this.width * dpr);
    const h = Math.round(this.height * dpr);
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
      this.canvas.style.width = `${this.width}px`;
      this.canvas.style.height = `${this.height}px`;
    }
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  indexAt(e) {
    if (this.lod?.active()) return this.lod.indexAt(e);
    const r = this.canvas.getBoundingClientRect();
    const x = e.clientX - r.left - AXIS;
    const y = e.clientY - r.top;
    const col = Math.floor(x / this.pitch);
    if (x < 0 || col >= this.cols) return null;
    const row = this.rowY.findIndex((top) => top !== null && y >= top && y < top + this.pitch);
    const i = row * this.cols + col;
    return row >= 0 && i < this.count() ? i : null;
  }

  // Marks that are not page_info: the migration badge of the page in this cell (on the
  // host the guest moved to, once no animation is holding the state back) and the
  // page-table-shaped contents of a page that is no page table (server-computed).
  // After a migration, the source host's frames the guest left: MFN -> the PFN it held.
  ghosts() {
    const m = this.store.migration;
    // (a huge guest's ghost would be every row: only teaching-sized ones get it)
    if (this.mode !== m.src || m.state !== "ok" || this.view.overlay.size ||
        m.leftSize > MAX_GHOSTS) return new Map();
    const out = new Map();
    for (const [mfn, pfn] of leftEntries(m)) {
      if (this.view.ownerName(this.mode, mfn) !== "guest") out.set(mfn, pfn);
    }
    return out;
  }

  drawGhost(i, pfn) {
    const rect = this.cellRect(i);
    if (!rect) return;
    const { x, y, size } = rect;
    const { ctx } = this;
    ctx.save();
    ctx.globalAlpha = 0.55;
    ctx.strokeStyle = "#666";
    ctx.lineWidth = 1.5;
    ctx.setLineDash([3, 2]);
    ctx.strokeRect(x + 1, y + 1, size - 2, size - 2);
    if (size >= 18) {
      ctx.fillStyle = "#444";
      ctx.font = `600 ${Math.round(Math.min(size * 0.34, 16))}px system-ui, sans-serif`;
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(String(pfn), x + size / 2, y + size / 2);
    }
    ctx.restore();
  }

  // Data pages, all sent raw, carry no badge: "sent raw" marks the pages where it matters
  // (page tables, or pages holding page-table entries).
  decorate(frame, mfn, pfn) {
    if (frame.owner === "guest" && mfn !== null && this.shapes?.has(`${this.host}:${mfn}`)) {
      frame.ptShaped = true;
    }
    const m = this.store.migration;
    if (pfn === null || pfn === undefined || m.state === "not_started" || this.view.overlay.size ||
        (this.mode !== "guest" && this.mode !== m.dst)) return;
    const table = PAGE_TABLE_TYPES.has(frame.type) || frame.ptShaped;
    if (m.lost.has(pfn)) frame.badge = "lost";
    else if (outcomeOf(m, pfn) === "normalised" && m.localised.has(pfn)) frame.badge = "localised";
    else if (outcomeOf(m, pfn) === "raw" && table) frame.badge = "raw";
  }

  // The frame behind cell i, and the (mfn, pfn) it stands for.
  frameAt(i) {
    if (this.mode === "guest") {
      const f = this.view.guestFrame(i);
      return f ? { frame: f, mfn: f.mfn, pfn: i }
               : { frame: { owner: "free", lost: this.store.isLost(this.host, i) },
                   mfn: null, pfn: i };   // ballooned out, or lost by a migration
    }
    const f = this.view.frame(this.mode, i);
    return { frame: f, mfn: i, pfn: f.pfn };
  }

  click(e) {
    const i = this.indexAt(e);
    if (i === null) return;
    const { mfn, pfn } = this.frameAt(i);
    this.onPick(this.host, mfn, pfn, e, this.mode === "guest");
  }

  hover(e) {
    const i = this.indexAt(e);
    if (i === null) { this.canvas.title = ""; this.onHover(null, null, null); return; }
    const { frame, mfn, pfn } = this.frameAt(i);
    const where = this.mode === "guest" ? `PFN ${i} → MFN ${mfn ?? "none"}`
      : `MFN ${i}${pfn !== null ? ` (PFN ${pfn})` : ""}`;
    const counts = frame.count === undefined ? ""
      : `; count ${frame.count}, type count ${frame.type_count}`;
    const lost = frame.lost ? " · LOST by the migration (final contents not sent)" : "";
    const ghost = this.ghostMap?.get(i);
    const was = ghost !== undefined ? ` — MFN ${i} was PFN ${ghost}'s frame before the migration` : "";
    this.canvas.title = `${where}: ${frame.owner}${frame.type ? `, ${frame.type}` : ""}${counts}${lost}${was}`;
    this.onHover(this.host, mfn, pfn);
  }

  // Cell index showing frame `mfn` of `host`, or null if this grid does not show it.
  indexOf(host, mfn) {
    if (host !== this.host || mfn === null || mfn === undefined) return null;
    if (this.mode !== "guest") return mfn;
    const f = this.view.frame(host, mfn);
    return f && f.pfn !== null && f.pfn < this.count() ? f.pfn : null;
  }

  draw() {
    if (!this.avail) return;   // not laid out yet
    if (this.lod?.active()) { this.lod.draw(); return; }
    this.lod?.hide();
    this.fit();
    this.resize();
    const { ctx } = this;
    ctx.clearRect(0, 0, this.width, this.height);
    const n = this.count();
    this.rowY.forEach((top, r) => {
      if (top === null) return;
      for (let i = r * this.cols; i < Math.min(n, (r + 1) * this.cols); i += 1) {
        const rect = this.cellRect(i);
        const { frame, mfn, pfn } = this.frameAt(i);
        this.decorate(frame, mfn, pfn);
        drawCell(ctx, rect.x, rect.y, rect.size, frame, this.mode === "guest" ? i : mfn);
      }
    });
    this.drawAxis();
    for (const band of this.bands) this.drawBand(band);
    // A faded ghost of the layout the guest left on the source: which PFN each frame held.
    this.ghostMap = this.ghosts();
    for (const [mfn, pfn] of this.ghostMap) this.drawGhost(mfn, pfn);
    for (const key of this.ui.diffs) {   // compare view: differs from the other pane
      const [host, mfn] = key.split(":");
      this.dashedRing(this.indexOf(host, Number(mfn)));
    }
    for (const [key, label] of this.ui.flashes) {
      const [host, mfn] = key.split(":");
      this.ring(this.indexOf(host, Number(mfn)), STALE_COLOUR, 4, label);
    }
    for (const [key, label] of this.ui.highlights) {   // named by a note or a failure
      const [host, mfn] = key.split(":");
      this.ring(this.indexOf(host, Number(mfn)), HIGHLIGHT_COLOUR, 4, label);
    }
    const sel = this.ui.selected;
    if (sel) this.ring(this.indexOf(sel.host, sel.mfn), INK, 4);
    for (const a of this.ui.arrows) this.arrow(a);
    this.canvas.dataset.selected = sel ? String(this.indexOf(sel.host, sel.mfn) ?? "") : "";
  }

  drawBand({ y, text, more }) {
    const { ctx } = this;
    const w = this.cols * this.pitch - this.gap;
    ctx.fillStyle = "#e4e4e4";
    ctx.fillRect(AXIS, y + 2, w, BAND - 5);
    ctx.strokeStyle = "#999";
    ctx.setLineDash([4, 3]);
    ctx.strokeRect(AXIS + 0.5, y + 2.5, w - 1, BAND - 6);
    ctx.setLineDash([]);
    ctx.fillStyle = "#222";
    ctx.font = "600 14px system-ui, sans-serif";
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    const full = `⋯ ${text}${more}`;
    ctx.fillText(ctx.measureText(full).width < w - 12 ? full : `⋯ ${text}`, AXIS + 8, y + BAND / 2);
  }

  drawAxis() {
    const { ctx } = this;
    if (this.pitch < 10) return;
    ctx.fillStyle = "#333";
    ctx.font = `600 ${Math.min(16, Math.max(10, this.pitch * 0.55))}px system-ui, sans-serif`;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    this.rowY.forEach((y, r) => {
      if (y !== null) ctx.fillText(String(r * this.cols), AXIS - 8, y + this.cell / 2);
    });
  }

  dashedRing(i) {
    const rect = i === null ? null : this.cellRect(i);
    if (!rect) return;
    const { x, y, size } = rect;
    const { ctx } = this;
    ctx.save();
    ctx.lineWidth = 4;
    ctx.strokeStyle = DIFF_COLOUR;
    ctx.setLineDash([6, 3]);
    ctx.strokeRect(x - 2, y - 2, size + 4, size + 4);
    if (size >= 20) {   // a second cue besides colour: the "differs" sign in the corner
      ctx.setLineDash([]);
      ctx.fillStyle = DIFF_COLOUR;
      ctx.fillRect(x - 2, y - 2, 14, 14);
      ctx.fillStyle = "#ffffff";
      ctx.font = "700 12px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText("≠", x + 5, y + 5);
    }
    ctx.restore();
  }

  ring(i, colour, width, label = "") {
    const rect = i === null ? null : this.cellRect(i);
    if (!rect) return;
    const { x, y, size } = rect;
    const { ctx } = this;
    ctx.lineWidth = width + 3;
    ctx.strokeStyle = "#ffffff";
    ctx.strokeRect(x - 2, y - 2, size + 4, size + 4);
    ctx.lineWidth = width;
    ctx.strokeStyle = colour;
    ctx.strokeRect(x - 2, y - 2, size + 4, size + 4);
    if (label && size >= 20) {
      ctx.font = "700 14px system-ui, sans-serif";
      ctx.textAlign = "left";
      ctx.textBaseline = "bottom";
      const w = ctx.measureText(label).width + 8;
      ctx.fillStyle = colour;
      ctx.fillRect(x, y - 20, w, 18);
      ctx.fillStyle = "#ffffff";
      ctx.fillText(label, x + 4, y - 4);
    }
  }

  // An arrow from a page table's cell to the cell its entry points at.
  arrow(a) {
    const from = this.indexOf(a.host, a.fromMfn);
    const to = this.mode === "guest"
      ? (a.host === this.host && a.toPfn !== null && a.toPfn < this.count() ? a.toPfn : null)
      : this.indexOf(a.host, a.toMfn);
    if (from === null || to === null || !this.cellRect(from) || !this.cellRect(to)) return;
    const c = (i) => {
      const r = this.cellRect(i);
      return [r.x + r.size / 2, r.y + r.size / 2];
    };
    const [x0, y0] = c(from);
    const [x1, y1] = c(to);
    const { ctx } = this;
    const angle = Math.atan2(y1 - y0, x1 - x0);
    const head = Math.max(10, this.cell * 0.35);
    const back = from === to ? 0 : Math.min(this.cell * 0.45, Math.hypot(x1 - x0, y1 - y0) / 2);
    const ex = x1 - Math.cos(angle) * back;
    const ey = y1 - Math.sin(angle) * back;
    ctx.save();
    ctx.strokeStyle = a.stale ? STALE_COLOUR : INK;
    ctx.fillStyle = ctx.strokeStyle;
    ctx.lineWidth = 3;
    ctx.setLineDash(a.stale ? [8, 5] : []);
    ctx.beginPath();
    ctx.moveTo(x0, y0);
    ctx.lineTo(ex, ey);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.beginPath();
    ctx.moveTo(ex, ey);
    ctx.lineTo(ex - head * Math.cos(angle - 0.4), ey - head * Math.sin(angle - 0.4));
    ctx.lineTo(ex - head * Math.cos(angle + 0.4), ey - head * Math.sin(angle + 0.4));
    ctx.closePath();
    ctx.fill();
    ctx.restore();
  }
}
