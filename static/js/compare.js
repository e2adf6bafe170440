// The compare view (?compare=A,B&seq=N): session B beside the page's session A, in
// lockstep (one timeline drives both stores), with what differs outlined in both panes and
// the divergence list (as `pvframes run --xen both` prints it) beside them. B is read
// through REST only: the view is for looking; steps still go to A.
import { getAllEvents, getCompare, getSnapshot, postStep } from "./api.js";
import { DisplayState } from "./display.js";
import { el } from "./dom.js";
import { FrameGrid } from "./grid.js";
import { Inspector } from "./inspector.js";
import { IntentTracker } from "./intent.js";
import { Store } from "./store.js";
import { UiState } from "./ui-state.js";

// "A,B" from ?compare=, or null.
export function compareIds(params) {
  const raw = params.get("compare");
  if (!raw) return null;
  const ids = raw.split(",").filter(Boolean);
  return ids.length === 2 ? ids : null;
}

export function compareUrl(a, b, seq) {
  const url = new URL(window.location.href);
  url.search = "";
  url.searchParams.set("compare", `${a},${b}`);
  if (seq !== null && seq !== undefined) url.searchParams.set("seq", String(seq));
  return url;
}

export class ComparePane {
  // main: {store, ui, grids, seekAll, select(host, mfn, pfn)}; ids: [A, B]
  constructor(main, ids) {
    Object.assign(this, { main, ids });
    this.store = new Store();
    this.display = new DisplayState(this.store);
    this.ui = new UiState();
    this.intent = new IntentTracker();
    this.diff = null;
    this.items = [];
    this.token = 0;
    document.body.dataset.mode = "compare";
    this.figure = el("figure", { "data-grid": "compare" }, el("figcaption", {}),
      el("canvas", { "data-testid": "grid-compare", role: "img",
                     "aria-label": "The other session of the comparison, one cell per page" }));
    main.gridsArea.append(this.figure);
    this.grid = new FrameGrid(this.figure.querySelector("canvas"), this.store, this.display,
      this.ui, "guest", (host, mfn, pfn, e, asGuest) => this.pick(host, mfn, pfn, asGuest));
    this.panel = el("section", { class: "divergences", "data-testid": "divergences",
                                 "data-region": "divergences", "aria-labelledby": "div-heading" },
      el("h2", { id: "div-heading" }, "Where they part ways"),
      el("p", { class: "hint", "data-testid": "compare-heads" }, "loading…"),
      el("ol", { "data-testid": "divergence-list" }));
    document.querySelector("[data-region=left]").prepend(this.panel);
    const inspectorRoot = el("section", { class: "inspector compare-inspector",
                                          "data-testid": "inspector-compare" },
      el("h2", {}, "Inspector, other pane"), el("div", { "data-inspector-body": "" }));
    document.querySelector("[data-region=inspector]").after(inspectorRoot);
    this.inspector = new Inspector(inspectorRoot, this.store, this.ui, this.intent, () => {});
    this.inspector.decorate = (body, d) => this.decorate(body, d, "b");
    main.inspector.decorate = (body, d) => this.decorate(body, d, "a");
    this.ui.on(() => this.draw());
    // Debounced: dragging the scrubber must not queue a request per event passed.
    const later = () => { clearTimeout(this.timer); this.timer = setTimeout(() => this.refreshDiff(), 120); };
    main.store.on("seek", later);
    main.store.on("event", later);
    main.ui.on((what) => { if (what === "selected") this.follow(); });
  }

  async open() {
    const [, b] = this.ids;
    const [snap, { events }, snap0, cmp] = await Promise.all([
      getSnapshot(b), getAllEvents(b, 0), getSnapshot(b, 0), getCompare(this.ids[0], b)]);
    this.store.load(b, snap);
    for (const e of events) this.intent.record(e);
    this.store.setHistory(events, snap0);
    this.renderList(cmp);
    this.store.seek(Math.min(this.main.store.seq, this.store.head));
    this.refreshDiff();
    document.body.dataset.compare = "ready";
  }

  seek(n) {
    this.store.seek(n);
    this.follow();   // the page's selection moved with it (a PFN follows its frame)
    this.draw();
  }
  get head() { return this.store.head; }

  // The step the page just sent to A, sent to B too (lockstep); the divergence list and
  // the outlines follow.
  async mirror(step) {
    const { event } = await postStep(this.ids[1], step);
    this.intent.record(event);
    this.store.apply(event);
    this.renderList(await getCompare(this.ids[0], this.ids[1]));
    this.refreshDiff();
  }

  renderList(cmp) {
    const label = (side) => `${side.id} (${side.xen})`;
    this.panel.querySelector("[data-testid=compare-heads]").textContent =
      `Left: ${label(cmp.a)} · right: ${label(cmp.b)}. Each line shows both at its step.`;
    const list = this.panel.querySelector("ol");
    this.items = cmp.divergences;
    if (!cmp.divergences.length) {
      list.replaceChildren(el("li", { class: "hint" }, "None: both behave alike."));
      return;
    }
    list.replaceChildren(...cmp.divergences.map((d, i) => {
      const li = el("li", { "data-testid": "divergence", "data-seq": String(d.seq),
                            "data-index": String(i), tabindex: "0",
                            title: `Show both at #${d.seq}` }, d.text);
      const go = () => this.goTo(d);
      li.addEventListener("click", go);
      li.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
      return li;
    }));
  }

  // A divergence line: both panes to its step, its first PFN selected in both.
  goTo(d) {
    this.main.seekAll(d.seq);
    for (const li of this.panel.querySelectorAll("[data-testid=divergence]")) {
      li.classList.toggle("viewed", Number(li.dataset.index) === this.items.indexOf(d));
    }
    if (d.pfns.length) {
      const f = this.main.store.guestFrame(d.pfns[0]);
      this.main.selectPfn(d.pfns[0], f);
    }
  }

  // The other pane selects the same PFN (or the same frame, in a host view).
  follow() {
    const sel = this.main.ui.selected;
    if (!sel || !this.store.loaded) { this.ui.select(null); return; }
    if (sel.guestPfn !== null && sel.guestPfn !== undefined) {
      const f = this.store.guestFrame(sel.guestPfn);
      this.ui.select(this.store.guest.host, f ? f.mfn : null, sel.guestPfn);
    } else {
      this.ui.select(sel.host, sel.mfn, null);
    }
  }

  pick(host, mfn, pfn, asGuest) {
    if (asGuest) {
      const f = this.main.store.guestFrame(pfn);
      this.main.selectPfn(pfn, f);
    } else {
      this.main.ui.select(host, mfn, null);
    }
  }

  async refreshDiff() {
    if (!this.store.loaded) return;   // open() asks once B is there
    const token = ++this.token;
    const seq = this.main.store.seq;
    try {
      const { state } = await getCompare(this.ids[0], this.ids[1], seq);
      if (token !== this.token) return;
      this.diff = state;
    } catch {
      this.diff = null;
    }
    this.applyDiff();
  }

  // Outline in each pane the frames that differ: page_info, entries, getpageframeinfo3
  // answers, P2M.
  applyDiff() {
    const d = this.diff;
    const keys = (store, side) => {
      if (!d || !store.loaded) return [];
      const out = d.frames.map((f) => `${f.host}:${f.mfn}`)
        .concat(d.entries.map((e) => `${e.host}:${e.mfn}`))
        .concat(d.pfinfo.map((p) => `${p.host}:${side === "a" ? p.mfn_a : p.mfn_b}`));
      const h = store.hosts[store.guest.host];
      for (const pfn of d.p2m) if (h.p2m && h.p2m[pfn] >= 0) out.push(`${store.guest.host}:${h.p2m[pfn]}`);
      return out;
    };
    this.main.ui.setDiffs(keys(this.main.store, "a"));
    this.ui.setDiffs(keys(this.store, "b"));
    document.body.dataset.diffs = String(this.main.ui.diffs.size);
    this.main.inspector.render();
    this.inspector.render();
  }

  // The inspector of either pane: entries and the getpageframeinfo3 answer that differ.
  decorate(body, detail, side) {
    const d = this.diff;
    if (!d) return;
    for (const row of body.querySelectorAll("[data-testid=entry-row]")) {
      const differs = d.entries.some((e) => e.host === detail.host && e.mfn === detail.mfn &&
                                            e.index === Number(row.dataset.index));
      row.classList.toggle("differs", differs);
    }
    const pf = d.pfinfo.find((p) => p.pfn === detail.pfn && detail.host === p.host);
    body.querySelector("[data-testid=inspector-pfinfo]")?.classList.toggle("differs", Boolean(pf));
    body.dataset.side = side;
  }

  layout(width, height) {
    if (!this.store.loaded) return;
    const mode = this.main.ui.view === "both" ? "guest" : this.main.ui.view;
    this.grid.mode = mode;
    this.grid.layout(width, height);
  }

  draw() {
    if (!this.store.loaded) return;
    const at = this.main.here();
    this.figure.querySelector("figcaption").textContent = this.main.paneCaption(this.store, at);
    this.figure.dataset.ended = String(at > this.store.head);   // shows its last state
    this.grid.draw();
  }
}
