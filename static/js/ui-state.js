// What the user is looking at, shared by the grid, inspector, console and animation:
// the selected frame, the arrows drawn from its entries, and cells being highlighted.

export class UiState {
  constructor() {
    this.selected = null;      // {host, mfn, guestPfn}: guestPfn set when picked as a guest PFN
    this.arrows = [];          // [{host, fromMfn, toMfn, toPfn, stale}]
    this.flashes = new Map();  // "host:mfn" -> label, cells the animation is pointing at
    this.view = "guest";       // guest | source | destination | both
    this.listeners = [];
  }

  on(fn) { this.listeners.push(fn); }
  changed(what) { for (const fn of this.listeners) fn(what, this); }

  select(host, mfn, guestPfn = null) {
    this.selected = host === null ? null : { host, mfn, guestPfn };
    this.arrows = [];
    this.changed("selected");
  }

  setArrows(arrows) { this.arrows = arrows; this.changed("arrows"); }

  setFlashes(cells) {
    this.flashes = new Map(cells.map((c) => [`${c.host}:${c.mfn}`, c.label || ""]));
    this.changed("flashes");
  }

  setView(view) { this.view = view; this.changed("view"); }
}
