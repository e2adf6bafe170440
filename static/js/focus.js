// What the current step is about, ringed on the grid and marked in the inspector: the frames
// and entries a narration names ("PFN 20", "PFN 20[0]"), or those of a failed step (its
// event's `failure`: the table entry Xen was examining, the frame it named, the tables it
// was validating on the way).

const NAMED = /\bPFN (\d+)(?:\[(\d+)\])?/g;

// "PFN 20[0] names PFN 21" -> [{pfn: 20, index: 0}, {pfn: 21, index: null}] (in order, once)
export function namedPages(text) {
  const out = new Map();
  for (const m of (text || "").matchAll(NAMED)) {
    const pfn = Number(m[1]);
    const index = m[2] === undefined ? null : Number(m[2]);
    const key = `${pfn}[${index}]`;
    if (!out.has(key)) out.set(key, { pfn, index });
  }
  return [...out.values()];
}

export class Focus {
  constructor(store, ui) {
    Object.assign(this, { store, ui });
    store.on("load", () => ui.setHighlights([]));
  }

  // The frames a narration names, on the host the guest runs on now.
  showNote(text) {
    const cells = [];
    const entries = [];
    for (const { pfn, index } of namedPages(text)) {
      const f = this.store.guestFrame(pfn);
      if (!f || f.mfn === null || f.mfn === undefined) continue;
      cells.push({ host: f.host, mfn: f.mfn, label: index === null ? "" : `[${index}]` });
      if (index !== null) entries.push({ host: f.host, mfn: f.mfn, index });
    }
    this.ui.setHighlights(cells, entries);
    const first = namedPages(text).find((p) => p.index !== null) || namedPages(text)[0];
    const f = first && this.store.guestFrame(first.pfn);
    if (f && f.mfn !== null && f.mfn !== undefined) this.ui.select(f.host, f.mfn, first.pfn);
    return cells.length;
  }

  // A failed step: ring the table and the frame its entry named, open the table.
  showFailure(failure) {
    const { host } = failure;
    const cells = [];
    for (const p of failure.path || []) {
      if (p.mfn !== failure.mfn) cells.push({ host, mfn: p.mfn, label: `[${p.index}]` });
    }
    if (failure.mfn !== null) {
      cells.push({ host, mfn: failure.mfn, label: failure.index === null ? "✗" : `[${failure.index}] ✗` });
    }
    if (failure.target !== null && failure.target !== failure.mfn) {
      cells.push({ host, mfn: failure.target, label: "→" });
    }
    const entries = failure.index === null ? [] : [{ host, mfn: failure.mfn, index: failure.index }];
    this.ui.setHighlights(cells, entries);
    const at = failure.mfn ?? failure.target;
    if (at !== null && at !== undefined && this.store.frame(host, at)) {
      const pfn = failure.mfn !== null ? failure.pfn : failure.target_pfn;
      this.ui.select(host, at, this.ui.view === "guest" ? pfn : null);
    }
  }

  // Every event: a failure or a narration takes the focus; other operations drop it.
  event(ev) {
    if (ev.failure) return this.showFailure(ev.failure);
    if (ev.note) return this.showNote(ev.note);
    // (Only when something is ringed: a needless change redraws every grid.)
    if (!["check", "ask"].includes(ev.op) && (this.ui.highlights.size || this.ui.entryMarks.size)) {
      this.ui.setHighlights([]);
    }
    return 0;
  }
}
