// Zoom and pan over a picture of `cw` x `ch` cells shown in a `w` x `h` CSS-pixel canvas:
// `scale` CSS pixels per cell, (ox, oy) the cell at the canvas's top-left corner.
export const MAX_SCALE = 64;   // one cell as big as the ordinary grid's largest

export class Viewport {
  constructor() {
    Object.assign(this, { w: 1, h: 1, cw: 1, ch: 1, scale: 1, ox: 0, oy: 0, fitted: true });
  }

  // New canvas or picture size; a viewport nobody moved stays fitted.
  setSize(w, h, cw, ch) {
    const same = this.cw === cw && this.ch === ch;
    Object.assign(this, { w, h, cw, ch });
    if (this.fitted || !same) this.fit(); else this.clamp();
  }

  get minScale() { return Math.min(this.w / this.cw, this.h / this.ch); }

  fit() {
    this.scale = this.minScale;
    this.ox = -(this.w / this.scale - this.cw) / 2;
    this.oy = 0;
    this.fitted = true;
  }

  // Keep some of the picture in view, and a picture smaller than the canvas centred.
  clamp() {
    const vw = this.w / this.scale;
    const vh = this.h / this.scale;
    this.ox = vw >= this.cw ? -(vw - this.cw) / 2 : Math.max(0, Math.min(this.cw - vw, this.ox));
    this.oy = vh >= this.ch ? 0 : Math.max(0, Math.min(this.ch - vh, this.oy));
  }

  // Zoom by `factor`, keeping the cell under canvas point (px, py) where it is.
  zoomAt(factor, px = this.w / 2, py = this.h / 2) {
    const s = Math.max(this.minScale, Math.min(MAX_SCALE, this.scale * factor));
    const cx = this.ox + px / this.scale;
    const cy = this.oy + py / this.scale;
    this.scale = s;
    this.ox = cx - px / s;
    this.oy = cy - py / s;
    this.fitted = s === this.minScale;
    this.clamp();
  }

  // Move the picture by (dx, dy) CSS pixels (a drag).
  panBy(dx, dy) {
    this.ox -= dx / this.scale;
    this.oy -= dy / this.scale;
    this.fitted = false;
    this.clamp();
  }

  // Put cell (x, y) in the middle of the canvas at scale `s`.
  centreOn(x, y, s = this.scale) {
    this.scale = Math.max(this.minScale, Math.min(MAX_SCALE, s));
    this.ox = x + 0.5 - this.w / 2 / this.scale;
    this.oy = y + 0.5 - this.h / 2 / this.scale;
    this.fitted = false;
    this.clamp();
  }

  toCanvas(x, y) { return { x: (x - this.ox) * this.scale, y: (y - this.oy) * this.scale }; }
  toCell(px, py) { return { x: Math.floor(this.ox + px / this.scale), y: Math.floor(this.oy + py / this.scale) }; }

  // The part of the picture in view, in cells (fractions kept).
  visible() {
    return { x: this.ox, y: this.oy, w: this.w / this.scale, h: this.h / this.scale };
  }
}
