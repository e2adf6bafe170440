// Accessibility: tab lists that behave as ARIA tabs (arrow keys, one tab stop), a text
// alternative for the grid (the selected frame and its neighbours as a table), and a legend
// for the marks drawn over the cells.
import { el } from "./dom.js";
import { HIGHLIGHT_COLOUR, INK, STALE_COLOUR } from "./types.js";

// Every [role=tablist]: its buttons are tabs; ←/→/Home/End move between them.
export function installTabs(root = document) {
  for (const list of root.querySelectorAll("[role=tablist]")) {
    const tabs = () => [...list.querySelectorAll("button")];
    const sync = () => {
      for (const t of tabs()) {
        t.setAttribute("role", "tab");
        const selected = t.getAttribute("aria-selected") === "true";
        t.tabIndex = selected ? 0 : -1;
        const form = t.dataset.formTab && document.querySelector(`[data-form=${t.dataset.formTab}]`);
        if (form) {
          form.id = form.id || `panel-${t.dataset.formTab}`;
          t.id = t.id || `tab-${t.dataset.formTab}`;
          t.setAttribute("aria-controls", form.id);
          form.setAttribute("role", "tabpanel");
          form.setAttribute("aria-labelledby", t.id);
        }
      }
      if (!tabs().some((t) => t.tabIndex === 0) && tabs()[0]) tabs()[0].tabIndex = 0;
    };
    new MutationObserver(sync).observe(list, { subtree: true, attributes: true, attributeFilter: ["aria-selected"] });
    sync();
    list.addEventListener("keydown", (e) => {
      const all = tabs();
      const i = all.indexOf(document.activeElement);
      if (i < 0) return;
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: all.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      e.stopPropagation();   // not the grid's arrow keys
      const t = all[(to + all.length) % all.length];
      t.focus();
      t.click();
    });
  }
}

const YES = (b) => (b ? "yes" : "no");

// The selected frame and its neighbours in the grid in view, as a table.
export class GridTable {
  constructor(container, store, ui, gridOf) {
    Object.assign(this, { store, ui, gridOf });
    this.root = el("details", { class: "grid-table", "data-testid": "grid-table" },
      el("summary", {}, "Grid as a table (selected frame and neighbours)"));
    this.body = el("div", {});
    this.root.append(this.body);
    container.append(this.root);
    // "flashes": an animation played a group (the grid's state moved with it)
    ui.on((what) => { if (["selected", "view", "flashes"].includes(what)) this.render(); });
    store.on("event", () => this.render());
    store.on("seek", () => this.render());
    store.on("load", () => this.render());
    this.root.addEventListener("toggle", () => this.render());
  }

  render() {
    if (!this.root.open || !this.store.loaded) return;
    const sel = this.ui.selected;
    const grid = this.gridOf(sel);
    const at = sel && grid ? grid.indexOf(sel.host, sel.mfn) : null;
    if (at === null || at === undefined) {
      this.body.replaceChildren(el("p", { class: "hint" }, "Select a frame (click, or the arrow keys) to list it and its neighbours."));
      return;
    }
    const rows = [];
    for (let i = Math.max(0, at - 4); i <= Math.min(grid.count() - 1, at + 4); i += 1) {
      const { frame, mfn, pfn } = grid.frameAt(i);
      const f = frame || {};
      rows.push(el("tr", { class: i === at ? "selected" : "", "aria-selected": String(i === at) },
        el("td", {}, pfn ?? "—"), el("td", {}, mfn ?? "—"), el("td", {}, f.owner || "—"),
        el("td", {}, f.type || "—"), el("td", {}, String(f.type_count ?? "")), el("td", {}, String(f.count ?? "")),
        el("td", {}, YES(f.validated)), el("td", {}, YES(f.pinned)), el("td", {}, YES(f.partial)),
        el("td", {}, [f.base ? "base pointer" : "", f.dirty ? "dirty" : "", this.ui.highlights.has(`${grid.host}:${mfn}`) ? "named" : ""]
          .filter(Boolean).join(", "))));
    }
    const head = el("tr", {}, ...["PFN", "MFN", "owner", "type", "type count", "count", "validated", "pinned", "partial", "marks"]
      .map((h) => el("th", { scope: "col" }, h)));
    this.body.replaceChildren(el("table", { "data-testid": "grid-table-rows" },
      el("caption", {}, `${grid.host} host, around ${sel.guestPfn !== null ? `PFN ${sel.guestPfn}` : `MFN ${sel.mfn}`}`),
      el("thead", {}, head), el("tbody", {}, ...rows)));
  }
}

// Marks drawn over the cells, each with a small drawing of it.
const OVERLAYS = [
  ["ring-selected", "Selected frame (black ring)", (c) => ring(c, INK)],
  ["ring-anim", "Frame the animation is changing (vermillion ring, labelled)", (c) => ring(c, STALE_COLOUR)],
  ["ring-named", "Frame a tour note or a failed step names (violet ring; [i]: its entry i, ✗: where Xen refused)", (c) => ring(c, HIGHLIGHT_COLOUR)],
  ["arrow", "Entry of the selected page table naming a frame (arrow)", (c) => arrow(c, INK, [])],
  ["arrow-stale", "Stale entry: names a frame that is not the one meant (dashed vermillion)", (c) => arrow(c, STALE_COLOUR, [5, 3])],
  ["p2m-link", "Hover: the same PFN's frame on the other host (dashed link)", (c) => arrow(c, "#cc79a7", [8, 5], false)],
  ["band", "Folded rows of free or foreign frames (grey band)", (c) => band(c)],
  ["dot-normalised", "Migration batch: a page table normalised (orange dot)", (c) => dot(c, "#e69f00")],
  ["dot-raw", "Migration batch: a page sent raw (blue dot)", (c) => dot(c, "#0072b2")],
];

function canvas(draw) {
  const c = el("canvas", { width: 34, height: 34 });
  c.style.width = "34px";
  c.style.height = "34px";
  draw(c.getContext("2d"));
  return c;
}
function ring(ctx, colour) {
  ctx.fillStyle = "#eee"; ctx.fillRect(7, 7, 20, 20);
  ctx.lineWidth = 4; ctx.strokeStyle = colour; ctx.strokeRect(5, 5, 24, 24);
}
function arrow(ctx, colour, dash, head = true) {
  ctx.strokeStyle = colour; ctx.fillStyle = colour; ctx.lineWidth = 2; ctx.setLineDash(dash);
  ctx.beginPath(); ctx.moveTo(4, 28); ctx.lineTo(28, 6); ctx.stroke(); ctx.setLineDash([]);
  if (head) { ctx.beginPath(); ctx.moveTo(30, 4); ctx.lineTo(20, 8); ctx.lineTo(26, 14); ctx.fill(); }
}
function band(ctx) {
  ctx.fillStyle = "#e4e4e4"; ctx.fillRect(1, 10, 32, 14);
  ctx.strokeStyle = "#999"; ctx.setLineDash([4, 3]); ctx.strokeRect(1.5, 10.5, 31, 13);
}
function dot(ctx, colour) {
  ctx.fillStyle = colour; ctx.beginPath(); ctx.arc(17, 17, 7, 0, 2 * Math.PI); ctx.fill();
}

export function renderOverlayLegend(legendRoot) {
  const list = el("ul", { "data-legend": "overlays", "data-testid": "legend-overlays" },
    ...OVERLAYS.map(([key, text, draw]) => el("li", { "data-testid": `legend-${key}` }, canvas(draw), el("span", {}, text))));
  legendRoot.append(list);
}
