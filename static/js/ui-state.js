// What the user is looking at, shared by the grid, inspector, console and animation:
// the selected frame, the arrows drawn from its entries, and cells being highlighted.

export class UiState {
  constructor() {
    this.selected = null;      // {host, mfn, guestPfn}: guestPfn set when picked as a guest PFN
    this.arrows = [];          // [{host, fromMfn, toMfn, toPfn, stale}]
    this.flashes = new Map();  // "host:mfn" -> label, cells the animation is pointing at
    this.view = "guest";       // guest | source | destination | both
    this.highlights = new Map();   // "host:mfn" -> label: frames a note or a failure names
    this.entryMarks = new Map();   // "host:mfn" -> Set of entry indices they name
    this.diffs = new Set();    // "host:mfn" of frames that differ from the other pane (compare)
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

  // force: redraw even when no cell was pointed at (the state drawn changed)
  setFlashes(cells, force = false) {
    if (!force && !cells.length && !this.flashes.size) return;   // nothing to redraw
    this.flashes = new Map(cells.map((c) => [`${c.host}:${c.mfn}`, c.label || ""]));
    this.changed("flashes");
  }

  // cells: [{host, mfn, label}]; entries: [{host, mfn, index}] (focus.js)
  setHighlights(cells, entries = []) {
    this.highlights = new Map(cells.map((c) => [`${c.host}:${c.mfn}`, c.label || ""]));
    this.entryMarks = new Map();
    for (const e of entries) {
      const key = `${e.host}:${e.mfn}`;
      if (!this.entryMarks.has(key)) this.entryMarks.set(key, new Set());
      this.entryMarks.get(key).add(e.index);
    }
    this.changed("highlights");
  }
  setDiffs(keys) { this.diffs = new Set(keys); this.changed("diffs"); }

  setView(view) { this.view = view; this.changed("view"); }
}
