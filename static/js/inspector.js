// The inspector: page_info fields of the selected frame and, for a page table, its present
// entries with their targets; stale entries are highlighted and drawn as dashed arrows.
import { frameDetail } from "./api.js";
import { detailAsOf, forgetDecoded } from "./asof.js";
import { el } from "./dom.js";
import { PAGE_TABLE_TYPES, styleOf } from "./types.js";

const FIELDS = [
  ["owner", "owner"], ["type", "type"], ["type_count", "type count"],
  ["count", "general count"], ["validated", "PGT_validated"], ["pinned", "PGT_pinned"],
  ["partial", "PGT_partial"], ["allocated", "PGC_allocated"],
  ["nr_validated_ptes", "nr_validated_ptes"], ["partial_set", "PTF_partial_set"],
  ["m2p", "M2P (PFN)"],
  ["pfinfo", "getpageframeinfo3"],
];
const MAX_ARROWS = 64;
const LOST_TEXT = "LOST by the migration: the final pass could not normalise this page and, " +
  "the guest being suspended but not paused (xl), sent it as XTAB and never again; what " +
  "is here is an older copy or an empty frame.";

// One or two sentences on what the frame's state means.
export function explainFrame(d) {
  if (d.owner === "free") return "Free frame: no owner and no references.";
  if (d.owner !== "guest") return `Belongs to ${d.owner}, not to the guest.`;
  const name = styleOf(d.type).label;
  const parts = [];
  if (PAGE_TABLE_TYPES.has(d.type)) {
    if (d.partial && d.partial_set) {
      parts.push(`${name}, validation preempted inside the table its entry ` +
                 `${d.nr_validated_ptes} names (PGT_partial, PTF_partial_set): entries before ` +
                 "it were checked; that entry holds a general reference to the table below, " +
                 "itself left partial. Issuing the same hypercall again continues both.");
    } else if (d.partial) {
      parts.push(`${name}, validation preempted after ${d.nr_validated_ptes} entries ` +
                 "(PGT_partial): only those entries were checked.");
    } else if (d.validated) {
      parts.push(`${name}, validated: its entries hold references (type count ${d.type_count}).`);
    } else {
      parts.push(`${name}, DE-VALIDATED: the type field is kept but PGT_validated is clear ` +
                 "and its entries hold no references; the frames they name may be freed or reused.");
    }
  } else if (d.type === "writable") {
    parts.push(`Writable page: ${d.type_count} writable mapping(s) hold its type.`);
  } else {
    parts.push(`${name[0].toUpperCase()}${name.slice(1)}.`);
  }
  if (!PAGE_TABLE_TYPES.has(d.type) && d.entries && d.entries.length) {
    parts.push("Its contents still look like page-table entries, but as it is not a page " +
               "table nothing checks or references the frames they name.");
  }
  for (const p of d.partial_holders || []) {
    parts.push(`Its validation is pending inside that of ${p.pfn !== null ? `PFN ${p.pfn}` : `MFN ${p.mfn}`}, ` +
               `whose entry ${p.index} holds a general reference to it; its one type ` +
               "reference is the partial one.");
  }
  if (d.pinned) parts.push("Pinned by the guest.");
  if (d.pfinfo) parts.push(`The migration tool stack sees ${d.pfinfo}.`);
  if (d.lost) parts.unshift(LOST_TEXT);
  return parts.join(" ");
}

// stale: the entry no longer names the frame it was meant to (or no guest frame at all).
export function entryStatus(entry, intended) {
  if (entry.target_owner !== "guest") {
    return { stale: true, text: `stale: MFN ${entry.mfn} is ${entry.target_owner}` };
  }
  if (entry.pfn === null) return { stale: true, text: "stale: not a guest frame" };
  if (intended && intended.pfn !== entry.pfn) {
    return { stale: true, text: `wrong frame: meant PFN ${intended.pfn}` };
  }
  if (entry.stale) return { stale: true, text: "stale" };
  if (entry.partial_slot) return { stale: false, text: "partial: general reference, table below left partial" };
  return { stale: false, text: entry.holds_references ? "ok" : "ok, no reference held" };
}

const CACHED = 64;   // frame details of past seqs kept (they never change)

export class Inspector {
  // display (display.js): what the grid shows while an event is animated; the inspector
  // then shows the selected frame as of the delta group being played (asOf()).
  constructor(root, store, ui, intent, onEntryPick, display = null) {
    Object.assign(this, { root, store, ui, intent, onEntryPick, display });
    this.detail = null;
    this.token = 0;
    this.playing = null;   // {event, upto}: the group the animation is playing
    this.cache = new Map();
    this.onShown = null;   // (detail) => ...: another panel showing the same frame
    ui.on((what) => {
      if (what === "selected") this.refresh();
      if (what === "view" && this.detail) this.render();   // the hint depends on the view
      if (what === "highlights" && this.detail) this.render();
    });
    store.on("event", () => { if (this.ui.selected) this.refresh(); });
    store.on("seek", () => {   // debounced: a drag over the timeline asks once
      clearTimeout(this.seekTimer);
      if (this.ui.selected) this.seekTimer = setTimeout(() => this.refresh(), 120);
    });
    store.on("load", () => { this.cache.clear(); this.playing = null; this.ui.select(null); });
    this.render();
  }

  // The animation plays the first `upto` deltas of `event` (null: it is over).
  asOf(event, upto = 0) {
    const was = this.playing;
    this.playing = event ? { event, upto } : null;
    if (!event) forgetDecoded();   // the animation is over: no event's arrays are kept
    if (!this.ui.selected || (!was && !event)) return;
    this.refresh();
  }

  // A frame as of a seq: asked once per session, frame and seq.
  past(host, mfn, seq) {
    const key = `${this.store.sessionId}:${host}:${mfn}:${seq}`;
    let got = this.cache.get(key);
    if (!got) {
      got = frameDetail(this.store.sessionId, host, mfn, seq);
      got.catch(() => this.cache.delete(key));
      this.cache.set(key, got);
      if (this.cache.size > CACHED) this.cache.delete(this.cache.keys().next().value);
    }
    return got;
  }

  // The frame to show: a guest PFN's frame as the grid shows it while an event plays.
  target(sel) {
    if (this.playing && this.display && sel.guestPfn !== null && sel.guestPfn !== undefined) {
      const f = this.display.guestFrame(sel.guestPfn);
      return f ? [f.host, f.mfn] : [this.display.guestHost, null];
    }
    return [sel.host, sel.mfn];
  }

  // Is this PFN lost as of what is shown (the migration summary as of the group played)?
  lostNow(host, pfn) {
    const play = this.playing;
    const view = play && play.event.op === "migrate" ? this.store.migrationAsOf(play.event, play.upto) : null;
    if (!view) return this.store.isLost(host, pfn);
    const m = view.migration;
    return pfn !== null && pfn !== undefined && host === m.dst && m.state !== "failed" && m.lost.has(pfn);
  }

  async refresh() {
    const sel = this.ui.selected;
    const token = ++this.token;
    const [host, mfn] = sel ? this.target(sel) : [null, null];
    if (!sel || mfn === null) {
      this.detail = sel ? { missing: true, lost: this.lostNow(host, sel.guestPfn ?? null) } : null;
      this.render();
      return;
    }
    const play = this.playing;
    try {
      let detail;
      if (play && this.display) {
        const seq = play.event.seq;
        const [before, after] = await Promise.all([
          this.past(host, mfn, seq - 1).catch(() => null), this.past(host, mfn, seq)]);
        detail = detailAsOf(before, after, play.event, play.upto, host, mfn, this.store.meta.xen,
                            (h, m) => this.display.frame(h, m));
      } else {
        const past = this.store.live ? null : this.store.seq;
        detail = await frameDetail(this.store.sessionId, host, mfn, past);
      }
      if (token !== this.token) return;   // a newer selection, event or group won
      this.detail = { ...detail, lost: this.lostNow(detail.host, detail.pfn) };
    } catch (err) {
      if (token !== this.token) return;
      this.detail = { error: err.message };
    }
    this.render();
  }

  render() {
    const body = this.root.querySelector("[data-inspector-body]");
    const d = this.detail;
    this.root.dataset.mfn = d && d.mfn !== undefined ? String(d.mfn) : "";
    // What moment the fields show: "N" (after event N), or "N:K" (its first K deltas).
    this.root.dataset.asOf = d && d.asOf ? `${d.asOf.seq}:${d.asOf.upto}` : String(this.store.seq);
    this.onShown?.(d && !d.missing && !d.error ? d : null);
    if (!d) {
      body.replaceChildren(el("p", { class: "hint" },
        "Click a frame on the grid to inspect it. Shift-click sets it as the entry target in the console."));
      this.ui.setArrows([]);
      return;
    }
    if (d.missing || d.error) {
      body.replaceChildren(el("p", { class: "hint" },
        d.error ? `Could not read the frame: ${d.error}`
          : d.lost ? "This PFN has no frame: LOST by the migration (sent as XTAB in the final pass, never populated)."
            : "This PFN has no frame (ballooned out)."));
      this.ui.setArrows([]);
      return;
    }
    const title = el("h3", { "data-testid": "inspector-title" },
      `MFN ${d.mfn} on ${d.host}${d.pfn !== null && d.pfn !== undefined ? ` — PFN ${d.pfn}` : ""}`);
    const explain = el("p", { class: "explain", "data-testid": "inspector-explain" }, explainFrame(d));
    const dl = el("dl", { class: "fields" });
    for (const [key, label] of FIELDS) {
      if (d[key] === undefined) continue;
      const value = typeof d[key] === "boolean" ? (d[key] ? "yes" : "no") : String(d[key]);
      dl.append(el("dt", {}, label), el("dd", { "data-testid": `inspector-${key}` }, value));
    }
    const note = d.asOf
      ? el("p", { class: "hint as-of", "data-testid": "inspector-as-of" },
        `As of the animation: event #${d.asOf.seq}, its first ${d.asOf.upto} change(s)` +
        (d.entriesExact ? "." : "; entries as after the event (their contents in between are not recorded)."))
      : null;
    body.replaceChildren(title, ...(note ? [note] : []), explain, dl, this.entriesTable(d));
    this.decorate?.(body, d);   // the compare view outlines what differs from the other pane
  }

  entriesTable(d) {
    const wrap = el("div", { class: "entries" });
    if (!d.entries.length) {
      wrap.append(el("p", { class: "hint" }, "No present entries."));
      this.ui.setArrows([]);
      return wrap;
    }
    const rows = [];
    const arrows = [];
    for (const e of d.entries) {
      const intended = d.pfn !== null ? this.intent.of(d.pfn, e.index) : undefined;
      const status = entryStatus(e, intended);
      const cls = status.stale ? "stale" : e.partial_slot ? "partial-slot" : "";
      const row = el("tr", { class: cls, "data-testid": "entry-row",
                             "data-index": String(e.index), "data-stale": String(status.stale),
                             title: "Click to load this entry into the mmu_update form" },
        el("td", {}, String(e.index)),
        el("td", { class: "mono" }, e.flags.join(" ")),
        el("td", {}, String(e.mfn)),
        el("td", { "data-testid": "entry-pfn" }, e.pfn === null ? "—" : String(e.pfn)),
        el("td", {}, e.target_owner === "guest" ? (e.target_type || "") : e.target_owner),
        el("td", { "data-testid": "entry-status" }, status.text));
      row.addEventListener("click", () => this.onEntryPick(d, e));
      // Keyboard reach: Tab to a row, Enter or Space loads it like a click.
      row.tabIndex = 0;
      row.addEventListener("keydown", (ev) => {
        if (ev.key !== "Enter" && ev.key !== " ") return;
        ev.preventDefault();
        this.onEntryPick(d, e);
      });
      if (this.ui.entryMarks.get(`${d.host}:${d.mfn}`)?.has(e.index)) {
        row.classList.add("marked");
        row.dataset.marked = "true";
      }
      rows.push(row);
      if (arrows.length < MAX_ARROWS) {
        arrows.push({ host: d.host, fromMfn: d.mfn, toMfn: e.mfn, toPfn: e.pfn, stale: status.stale });
      }
    }
    const head = el("tr", {}, ...["#", "flags", "→ MFN", "→ PFN", "target", "status"]
      .map((h) => el("th", {}, h)));
    const staleRows = rows.filter((r) => r.dataset.stale === "true").length;
    if (staleRows) {
      wrap.append(el("p", { class: "stale-warning", "data-testid": "stale-warning" },
        `⚠ ${staleRows} entr${staleRows === 1 ? "y does" : "ies do"} not name the frame ` +
        "the guest wrote it for: as a page table, this page maps the wrong memory or fails " +
        "to validate."));
    }
    wrap.append(el("h4", {}, `${d.entries.length} present entr${d.entries.length === 1 ? "y" : "ies"}`),
                el("table", { "data-testid": "entries" }, el("thead", {}, head), el("tbody", {}, ...rows)));
    if (this.ui.view === "guest" && d.entries.some((e) => e.pfn === null)) {
      wrap.append(el("p", { class: "hint" }, `Entries that name no guest frame have no cell among the ` +
        `guest's PFNs: the ${d.host} host view (key ${d.host === "source" ? 2 : 3}) shows where they point.`));
    }
    this.ui.setArrows(arrows);
    return wrap;
  }
}
