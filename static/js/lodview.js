// The guest grid of a large guest: zoomed out, one block per 512 PFNs in its majority
// type's colour with marks; zoomed in, single cells as the ordinary grid draws them. Wheel,
// drag and keys (+ - 0, Shift+arrows) zoom and pan; a minimap shows where the view is.
// Only what is in view is drawn, so a frame costs the same at any guest size.
import { cornerMark, drawCell } from "./cell.js";
import { BH, BLOCK, BW, BlockModel, MARK, blockColumns, cellOf, pfnAt } from "./lod.js";
import { Minimap } from "./minimap.js";
import { FOREIGN_COLOUR, INK, LOST_COLOUR, STALE_COLOUR, styleOf } from "./types.js";
import { Viewport } from "./viewport.js";

export const LOD_MIN = 16384;   // guests (hosts) above this many pages (frames) get this view
const CELL_MODE = 3;            // CSS px per cell from which cells are drawn, not blocks
const FULL_CELL = 10;           // from which each cell is drawn with its marks and letter
const FREE_RGB = [236, 236, 236];
const DRAG = 4;                 // pixels a press must move to be a drag, not a click
const HINT_LINE = 13;           // line height of the hint under the grid that says how to read it
const HINT_TEXT = (unit) => `Blocks of 512 ${unit}s (one L1's worth) in their most common ` +
  "type's colour · ◥ page tables · hatched: de-validated · ■ stale (a table sent raw) · " +
  "✕ lost · wheel, drag, + − 0: zoom and pan; click a block to zoom in";

function rgb(hex) { return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)); }

export class LodView {
  constructor(grid) {
    this.grid = grid;
    this.model = new BlockModel(grid.store, grid.mode, grid.view);   // as shown: animated
    this.vp = new Viewport();
    this.image = document.createElement("canvas");   // one pixel per block
    this.cells = document.createElement("canvas");   // one pixel per visible cell
    this.imageVersion = -1;
    this.minimap = null;
    this.scheduled = false;
    const { canvas } = grid;
    canvas.pvLod = this;   // for tests and the benchmark
    canvas.addEventListener("wheel", (e) => this.wheel(e), { passive: false });
    canvas.addEventListener("pointerdown", (e) => this.press(e));
    canvas.addEventListener("pointermove", (e) => this.drag(e));
    canvas.addEventListener("pointerup", () => {
      this.wasDrag = Boolean(this.pressed?.moved);   // the click that follows must know
      this.pressed = null;
    });
    // capture: runs before the grid's own click, which a drag or a block click must not reach
    canvas.addEventListener("click", (e) => this.click(e), true);
    canvas.addEventListener("mousemove", (e) => this.hover(e));
    document.addEventListener("keydown", (e) => this.key(e), true);
  }

  active() {
    const g = this.grid;
    return g.store.loaded && Boolean(g.avail) && g.count() > LOD_MIN;
  }

  get unit() { return this.grid.mode === "guest" ? "PFN" : "MFN"; }

  get shown() { return this.active() && this.grid.canvas.offsetParent !== null; }
  get columns() { return blockColumns(this.grid.count()); }
  get blockMode() { return this.vp.scale < CELL_MODE; }

  // ---- drawing ---------------------------------------------------------------------------
  draw() {
    const g = this.grid;
    const n = g.count();
    if (this.model.pages !== n || !this.model.dirty) this.model.reset();
    g.width = Math.max(100, Math.floor(g.avail.width));
    const hint = this.showHint(g.width);
    g.height = Math.max(100, Math.floor(g.avail.maxHeight) - hint);
    g.cols = BW;   // arrow keys move by a block's row
    g.rowY = null;
    g.bands = [];
    g.resize();
    const cols = this.columns;
    const rows = Math.ceil(this.model.blocks / cols);
    this.vp.setSize(g.width, g.height, cols * BW, rows * BH);
    if (!this.model.refresh(12)) this.schedule();
    this.paintImage(cols, rows);
    const { ctx } = g;
    ctx.clearRect(0, 0, g.width, g.height);
    if (this.blockMode) this.drawBlocks(cols, rows);
    else if (this.vp.scale < FULL_CELL) this.drawCellColours(cols);
    else this.drawFullCells(cols);
    this.drawBlockLines(cols, rows);
    const sel = g.ui.selected;
    if (sel) g.ring(g.indexOf(sel.host, sel.mfn), INK, this.blockMode ? 2 : 4);
    if (!this.minimap) this.minimap = new Minimap(g.canvas.parentElement, (x, y) => {
      this.vp.centreOn(x, y);
      this.draw();
    });
    this.minimap.canvas.style.bottom = `${hint + 6}px`;   // clear of the hint
    this.minimap.hidden = this.vp.fitted;   // the whole guest is in view: nothing to find
    this.minimap.draw(this.image, this.vp.visible(), g.width);
    Object.assign(g.canvas.dataset, {
      lod: this.blockMode ? "blocks" : "cells", scale: this.vp.scale.toFixed(3),
      cellSize: String(Math.floor(this.vp.scale)), pending: String(this.model.pending),
    });
  }

  hide() {
    if (this.minimap) this.minimap.hidden = true;
    if (this.hint) this.hint.hidden = true;
  }

  // The hint under the grid, as wide as the grid and as tall as its text needs (two host
  // grids side by side at 1024 px wrap it over four lines): returns the height it takes.
  showHint(width) {
    if (!this.hint) {
      this.hint = document.createElement("p");
      this.hint.dataset.testid = "lod-hint";
      Object.assign(this.hint.style, { margin: "2px 0 0", font: `11px/${HINT_LINE}px system-ui, sans-serif` });
      this.grid.canvas.after(this.hint);
    }
    this.hint.hidden = false;
    const text = this.blockMode ? HINT_TEXT(this.unit)
      : "Single cells, drawn as in a small guest. Wheel, drag, + − 0 and Shift+arrows zoom and pan.";
    const key = `${width}|${text}`;
    if (this.hintKey !== key) {   // measured once per width and text, not on every frame
      this.hint.textContent = text;
      this.hint.style.width = `${width}px`;
      this.hintHeight = this.hint.offsetHeight + 2 || 2 * HINT_LINE + 4;
      this.hintKey = this.hint.offsetHeight ? key : null;   // not laid out yet: measure again
    }
    return this.hintHeight;
  }

  // Blocks not recomputed yet: come back next frame (never one long task).
  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      if (this.active()) this.draw();
    });
  }

  colourOf(t) {
    this.palette ||= [...this.grid.store.types.map((name) => rgb(styleOf(name).colour)), FREE_RGB,
                      rgb(FOREIGN_COLOUR)];
    return this.palette[t];
  }

  paintImage(cols, rows) {
    if (this.imageVersion === this.model.version && this.image.width === cols) return;
    this.palette = null;
    this.image.width = cols;
    this.image.height = rows;
    const ictx = this.image.getContext("2d");
    const data = ictx.createImageData(cols, rows);
    for (let b = 0; b < this.model.blocks; b += 1) {
      const [r, gr, bl] = this.colourOf(this.model.majority[b]);
      data.data.set([r, gr, bl, 255], b * 4);
    }
    ictx.putImageData(data, 0, 0);
    this.imageVersion = this.model.version;
  }

  drawBlocks(cols, rows) {
    const { ctx } = this.grid;
    const { vp } = this;
    const o = vp.toCanvas(0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.image, o.x, o.y, cols * BW * vp.scale, rows * BH * vp.scale);
    const bw = BW * vp.scale;
    const bh = BH * vp.scale;
    if (bw < 8) return;   // too small for marks; the colour says enough
    const v = vp.visible();
    const c0 = Math.max(0, Math.floor(v.x / BW));
    const c1 = Math.min(cols, Math.ceil((v.x + v.w) / BW));
    const r0 = Math.max(0, Math.floor(v.y / BH));
    const r1 = Math.min(rows, Math.ceil((v.y + v.h) / BH));
    for (let r = r0; r < r1; r += 1) {
      for (let c = c0; c < c1; c += 1) {
        const b = r * cols + c;
        if (b >= this.model.blocks || !this.model.marks[b]) continue;
        const p = vp.toCanvas(c * BW, r * BH);
        blockMarks(ctx, p.x, p.y, bw, bh, this.model.marks[b]);
      }
    }
  }

  // Cells a few pixels wide: their type's colour, one pixel each, scaled up.
  drawCellColours(cols) {
    const g = this.grid;
    const { vp } = this;
    const v = vp.visible();
    const x0 = Math.max(0, Math.floor(v.x));
    const y0 = Math.max(0, Math.floor(v.y));
    const x1 = Math.min(vp.cw, Math.ceil(v.x + v.w));
    const y1 = Math.min(vp.ch, Math.ceil(v.y + v.h));
    const w = x1 - x0;
    const h = y1 - y0;
    if (w <= 0 || h <= 0) return;
    const n = g.count();
    this.cells.width = w;
    this.cells.height = h;
    const cctx = this.cells.getContext("2d");
    const data = cctx.createImageData(w, h);
    const classAt = this.model.classifier();
    for (let y = y0; y < y1; y += 1) {
      for (let x = x0; x < x1; x += 1) {
        const i = pfnAt(x, y, cols, n);
        if (i === null) continue;
        const [r, gr, bl] = this.colourOf(classAt(i));
        data.data.set([r, gr, bl, 255], ((y - y0) * w + (x - x0)) * 4);
      }
    }
    cctx.putImageData(data, 0, 0);
    const p = vp.toCanvas(x0, y0);
    g.ctx.imageSmoothingEnabled = false;
    g.ctx.drawImage(this.cells, p.x, p.y, w * vp.scale, h * vp.scale);
  }

  // Large enough to read: every visible cell as the ordinary grid draws it (state as shown,
  // with the animation's held-back deltas, badges and marks).
  drawFullCells(cols) {
    const g = this.grid;
    const { vp } = this;
    const v = vp.visible();
    const gap = vp.scale >= 20 ? 2 : 1;
    for (let y = Math.max(0, Math.floor(v.y)); y < Math.min(vp.ch, Math.ceil(v.y + v.h)); y += 1) {
      for (let x = Math.max(0, Math.floor(v.x)); x < Math.min(vp.cw, Math.ceil(v.x + v.w)); x += 1) {
        const pfn = pfnAt(x, y, cols, g.count());
        if (pfn === null) continue;
        const { frame, mfn } = g.frameAt(pfn);
        g.decorate(frame, mfn, pfn);
        const p = vp.toCanvas(x, y);
        drawCell(g.ctx, p.x, p.y, vp.scale - gap, frame, pfn);
      }
    }
  }

  drawBlockLines(cols, rows) {
    const { ctx } = this.grid;
    const { vp } = this;
    if (BW * vp.scale < 6) return;
    ctx.save();
    ctx.strokeStyle = this.blockMode ? "#ffffff" : "#555555";
    ctx.lineWidth = this.blockMode ? 1 : 2;
    ctx.beginPath();
    for (let c = 0; c <= cols; c += 1) {
      const p = vp.toCanvas(c * BW, 0);
      if (p.x < -2 || p.x > vp.w + 2) continue;
      ctx.moveTo(p.x, Math.max(0, p.y));
      ctx.lineTo(p.x, Math.min(vp.h, p.y + rows * BH * vp.scale));
    }
    for (let r = 0; r <= rows; r += 1) {
      const p = vp.toCanvas(0, r * BH);
      if (p.y < -2 || p.y > vp.h + 2) continue;
      ctx.moveTo(Math.max(0, p.x), p.y);
      ctx.lineTo(Math.min(vp.w, p.x + cols * BW * vp.scale), p.y);
    }
    ctx.stroke();
    ctx.restore();
  }

  // ---- geometry for the grid's rings, arrows and animations ------------------------------
  cellRect(pfn) {
    if (pfn === null || pfn === undefined) return null;
    const c = cellOf(pfn, this.columns);
    const p = this.vp.toCanvas(c.x, c.y);
    const s = this.vp.scale;
    if (p.x + s < 0 || p.y + s < 0 || p.x > this.vp.w || p.y > this.vp.h) return null;
    return { x: p.x, y: p.y, size: Math.max(2, s - (s >= FULL_CELL ? 1 : 0)) };
  }

  pfnAtEvent(e) {
    const r = this.grid.canvas.getBoundingClientRect();
    const c = this.vp.toCell(e.clientX - r.left, e.clientY - r.top);
    return pfnAt(c.x, c.y, this.columns, this.grid.count());
  }

  // The grid's click and hover ask this: a cell only when cells are drawn.
  indexAt(e) { return this.blockMode ? null : this.pfnAtEvent(e); }

  // ---- input -----------------------------------------------------------------------------
  wheel(e) {
    if (!this.active()) return;
    e.preventDefault();
    const r = this.grid.canvas.getBoundingClientRect();
    this.vp.zoomAt(Math.exp(-e.deltaY * 0.002), e.clientX - r.left, e.clientY - r.top);
    this.draw();
  }

  press(e) {
    if (!this.active() || e.button !== 0) return;
    this.pressed = { x: e.clientX, y: e.clientY, moved: false };
  }

  drag(e) {
    const p = this.pressed;
    if (!p || !e.buttons) return;
    const dx = e.clientX - p.x;
    const dy = e.clientY - p.y;
    if (!p.moved && Math.hypot(dx, dy) < DRAG) return;
    p.moved = true;
    p.x = e.clientX;
    p.y = e.clientY;
    this.vp.panBy(dx, dy);
    this.draw();
  }

  click(e) {
    if (!this.active()) return;
    const dragged = this.pressed?.moved || this.wasDrag;
    this.wasDrag = false;
    if (dragged || this.blockMode) e.stopImmediatePropagation();
    if (dragged || !this.blockMode) return;
    // a block clicked: zoom in on it until its cells can be read
    const pfn = this.pfnAtEvent(e);
    if (pfn === null) return;
    const b = Math.floor(pfn / BLOCK);
    const c = cellOf(b * BLOCK, this.columns);
    this.vp.centreOn(c.x + BW / 2, c.y + BH / 2, Math.min(this.vp.w / BW, this.vp.h / BH) * 0.9);
    this.draw();
  }

  hover(e) {
    if (!this.active() || !this.blockMode) return;
    const pfn = this.pfnAtEvent(e);
    if (pfn === null) { this.grid.canvas.title = ""; return; }
    const b = Math.floor(pfn / BLOCK);
    const m = this.model.marks[b];
    const major = this.model.majority[b];
    const type = major === this.model.free ? (this.unit === "PFN" ? "no frame" : "free")
      : major === this.model.foreign ? "another domain's" : this.grid.store.types[major];
    const marks = Object.keys(MARK).filter((k) => m & MARK[k]);
    this.grid.canvas.title = `${this.unit} ${b * BLOCK}–${Math.min(this.grid.count(), (b + 1) * BLOCK) - 1}: ` +
      `mostly ${type}${marks.length ? `; ${marks.join(", ")}` : ""} (click to zoom in)`;
  }

  key(e) {
    if (!this.shown || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t instanceof HTMLElement && (t.isContentEditable || ["INPUT", "SELECT", "TEXTAREA"].includes(t.tagName))) return;
    const step = 0.25;
    const act = {
      "+": () => this.vp.zoomAt(1.5), "=": () => this.vp.zoomAt(1.5),
      "-": () => this.vp.zoomAt(1 / 1.5), 0: () => this.vp.fit(),
    }[e.key] || (e.shiftKey && {
      ArrowLeft: () => this.vp.panBy(this.vp.w * step, 0),
      ArrowRight: () => this.vp.panBy(-this.vp.w * step, 0),
      ArrowUp: () => this.vp.panBy(0, this.vp.h * step),
      ArrowDown: () => this.vp.panBy(0, -this.vp.h * step),
    }[e.key]);
    if (!act) return;
    e.preventDefault();
    e.stopPropagation();   // Shift+arrows pan here; plain arrows still walk the selection
    act();
    this.draw();
  }
}

// Marks of a block: page tables (a black corner), de-validated tables (hatching), stale
// page tables sent raw (a vermillion square), lost pages (a red cross).
function blockMarks(ctx, x, y, w, h, marks) {
  const k = Math.min(w, h);
  ctx.save();
  if (marks & MARK.devalidated) {
    ctx.beginPath();
    ctx.rect(x, y, w, h);
    ctx.clip();
    ctx.strokeStyle = INK;
    ctx.lineWidth = Math.max(1, k / 10);
    const step = Math.max(4, k / 3);
    ctx.beginPath();
    for (let d = -h; d < w; d += step) { ctx.moveTo(x + d, y + h); ctx.lineTo(x + d + h, y); }
    ctx.stroke();
  }
  ctx.restore();
  if (marks & MARK.tables) cornerMark(ctx, x, y, w, Math.max(4, k * 0.45));
  if (marks & MARK.stale) {
    const s = Math.max(4, k * 0.4);
    ctx.fillStyle = STALE_COLOUR;
    ctx.fillRect(x + 1, y + h - s - 1, s, s);
    ctx.strokeStyle = "#ffffff";
    ctx.lineWidth = 1;
    ctx.strokeRect(x + 1.5, y + h - s - 0.5, s - 1, s - 1);
  }
  if (marks & MARK.lost) {
    const m = k * 0.15;
    ctx.save();
    ctx.lineCap = "round";
    for (const [colour, width] of [["#ffffff", Math.max(3, k / 5)], [LOST_COLOUR, Math.max(1.5, k / 9)]]) {
      ctx.strokeStyle = colour;
      ctx.lineWidth = width;
      ctx.beginPath();
      ctx.moveTo(x + w / 2 - h / 2 + m, y + m);
      ctx.lineTo(x + w / 2 + h / 2 - m, y + h - m);
      ctx.moveTo(x + w / 2 + h / 2 - m, y + m);
      ctx.lineTo(x + w / 2 - h / 2 + m, y + h - m);
      ctx.stroke();
    }
    ctx.restore();
  }
}
