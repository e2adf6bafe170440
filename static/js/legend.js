// The legend: each swatch is drawn by the same drawCell() as the grid.
import { drawCell } from "./cell.js";
import { TYPE_STYLE } from "./types.js";

const SWATCH = 34;

const guestPage = (type, extra = {}) => ({ owner: "guest", type, validated: true, ...extra });

const MARKS = [
  ["hatched", guestPage("l2", { validated: false }), "de-validated: type kept, not PGT_validated"],
  ["partial", guestPage("l2", { validated: false, partial: true }), "partial: validation preempted"],
  ["nested", guestPage("l3", { validated: false, partial: true, partial_set: true }),
   "partial, stopped inside a table below (PTF_partial_set)"],
  ["pinned", guestPage("l4", { pinned: true }), "pinned (corner mark)"],
  ["base", guestPage("l4", { base: true }), "vCPU base pointer (CR3): thick border"],
  ["dirty", guestPage("writable", { dirty: true }), "dirtied (log-dirty mode)"],
  ["lost", guestPage("writable", { lost: true }),
   "lost by the migration: an older copy or an empty frame (cross)"],
  ["lost-none", { owner: "free", lost: true }, "lost by the migration: no frame at all"],
  ["pt-shaped", guestPage("writable", { ptShaped: true }),
   "not a page table, but holds page-table entries (dotted frame)"],
  ["badge-localised", guestPage("l2", { badge: "localised" }), "after migration: normalised + localised"],
  ["badge-raw", guestPage("writable", { badge: "raw" }), "after migration: sent raw"],
  ["foreign", { owner: "dom0" }, "another domain's frame (grey, dot)"],
  ["free", { owner: "free" }, "free frame (empty)"],
];

function swatch(frame) {
  const canvas = document.createElement("canvas");
  const dpr = window.devicePixelRatio || 1;
  canvas.width = SWATCH * dpr;
  canvas.height = SWATCH * dpr;
  canvas.style.width = `${SWATCH}px`;
  canvas.style.height = `${SWATCH}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  drawCell(ctx, 0, 0, SWATCH, frame);
  return canvas;
}

function item(key, frame, text) {
  const li = document.createElement("li");
  li.dataset.testid = `legend-${key}`;
  const label = document.createElement("span");
  label.textContent = text;
  li.append(swatch(frame), label);
  return li;
}

export function renderLegend(root) {
  const types = root.querySelector("[data-legend=types]");
  const marks = root.querySelector("[data-legend=marks]");
  types.replaceChildren(...Object.entries(TYPE_STYLE)
    .filter(([type]) => type !== "shared")   // no step of the contract makes shared pages
    .map(([type, s]) => item(type, guestPage(type), s.label)));
  marks.replaceChildren(...MARKS.map(([key, frame, text]) => item(key, frame, text)));
}
