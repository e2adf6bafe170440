// The whole guest in a corner, one pixel per block, with the part in view outlined; a click
// or drag on it moves the view there.
import { BH, BW } from "./lod.js";
import { INK } from "./types.js";

const WIDTH = 120;   // CSS pixels at most (and a fifth of the grid's width)

export class Minimap {
  // host: the element to sit in (made a positioning context); onMove(x, y): cell to centre.
  constructor(host, onMove) {
    this.canvas = document.createElement("canvas");
    this.canvas.dataset.testid = "minimap";
    this.canvas.className = "minimap";
    this.canvas.title = "The whole guest: click or drag to move the view";
    Object.assign(this.canvas.style, {
      position: "absolute", right: "6px", bottom: "6px", background: "#ffffff",
      border: `1px solid ${INK}`, cursor: "crosshair", boxShadow: "0 1px 4px #0004",
      opacity: "0.9",
    });
    host.style.position = "relative";
    host.appendChild(this.canvas);
    this.ctx = this.canvas.getContext("2d");
    const move = (e) => {
      const r = this.canvas.getBoundingClientRect();
      onMove(((e.clientX - r.left) / this.k) * BW, ((e.clientY - r.top) / (this.k / 2)) * BH);
    };
    this.canvas.addEventListener("pointerdown", (e) => {
      e.stopPropagation();
      this.canvas.setPointerCapture(e.pointerId);
      move(e);
    });
    this.canvas.addEventListener("pointermove", (e) => { if (e.buttons) move(e); });
    this.canvas.addEventListener("click", (e) => e.stopPropagation());
  }

  set hidden(v) { this.canvas.hidden = v; }

  // image: one pixel per block (cols x rows); view: the visible part, in cells; room: the
  // grid's width. A block is drawn twice as wide as high, as in the grid.
  draw(image, view, room) {
    const k = Math.max(2, Math.floor(Math.min(WIDTH, room / 5) / image.width / 2) * 2);
    this.k = k;   // CSS pixels per block across; k / 2 down
    const w = image.width * k;
    const h = image.height * k / 2;
    const dpr = window.devicePixelRatio || 1;
    if (this.canvas.width !== w * dpr || this.canvas.height !== h * dpr) {
      this.canvas.width = w * dpr;
      this.canvas.height = h * dpr;
      this.canvas.style.width = `${w}px`;
      this.canvas.style.height = `${h}px`;
    }
    const { ctx } = this;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.clearRect(0, 0, w, h);
    ctx.drawImage(image, 0, 0, w, h);
    const x = Math.max(0, (view.x / BW) * k);
    const y = Math.max(0, (view.y / BH) * k / 2);
    const rw = Math.min(w, ((view.x + view.w) / BW) * k) - x;
    const rh = Math.min(h, ((view.y + view.h) / BH) * k / 2) - y;
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#ffffff";
    ctx.strokeRect(x + 1, y + 1, Math.max(2, rw - 2), Math.max(2, rh - 2));
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#d55e00";
    ctx.strokeRect(x + 1, y + 1, Math.max(2, rw - 2), Math.max(2, rh - 2));
    this.canvas.dataset.view = [x, y, rw, rh].map((v) => v.toFixed(1)).join(",");
  }
}
