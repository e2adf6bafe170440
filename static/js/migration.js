// The migration panel: state, the tool stack, the phase buttons, per-round statistics and
// the last batch.
import { packedLength, segments, unpackHead } from "./deltas.js";
import { el } from "./dom.js";

const ROUND_COLUMNS = ["round", "phase", "sent", "normalised", "xtab", "deferred", "populated",
                       "localised", "pinned", "lost"];

const MAX_LISTED = 24;

function pfnList(pfns) {
  const list = [...pfns];
  const shown = list.slice(0, MAX_LISTED).join(", ");
  return list.length > MAX_LISTED ? `${shown} … and ${list.length - MAX_LISTED} more` : shown;
}

function stopped(view) {
  if (view.paused) return " (suspended and paused)";
  return view.suspended ? " (suspended)" : "";
}

// What the destination holds for each lost PFN.
export function lostText(m) {
  const parts = [...m.lost.entries()].sort((a, b) => a[0] - b[0]).map(([pfn, l]) =>
    `PFN ${pfn} (${l.kept_round ? `the destination keeps round ${l.kept_round}'s copy`
                                : "its contents never sent"})`);
  return parts.length ? `the guest lost ${parts.join(", ")}` : "";
}

// view: {migration, host, paused, suspended}: the state shown (the store's, or as of the
// animation frame being played)
export function stateText(view) {
  const m = view.migration;
  const where = `Guest runs on the ${view.host} host${stopped(view)}.`;
  const by = m.toolstack ? ` (tool stack ${m.toolstack})` : "";
  const lost = lostText(m);
  switch (m.state) {
    case "not_started": return `Not started. ${where}`;
    case "in_progress":
      return `In progress: ${m.phase} done, ${m.src} → ${m.dst}${by}.` +
        `${lost ? ` Final pass: ${lost}.` : ""} ${where}`;
    case "ok":
      return lost ? `Migration succeeded; ${lost}: ${m.src} → ${m.dst}${by}. ${where}`
        : `Completed: ${m.src} → ${m.dst}${by}. ${where}`;
    case "failed": return `FAILED${by}: ${m.error || "restore refused"}. ${where}`;
    default: return `${m.state}. ${where}`;
  }
}

// Said of a batch note once (the panel renders it again and again while it is the last):
// counted a run of equal actions at a time, a million PFNs never expanded.
const batchTexts = new WeakMap();

function batchText(b) {
  if (!b) return "";
  let text = batchTexts.get(b);
  if (text === undefined) {
    text = describeBatch(b);
    batchTexts.set(b, text);
  }
  return text;
}

function describeBatch(b) {
  const counts = {};
  for (const [action, n] of segments(b.actions)) counts[action] = (counts[action] || 0) + n;
  const count = (what) => counts[what] || 0;
  // The first page tables (not NOTAB) of the batch, found a run of types at a time.
  const picks = [];
  let at = 0;
  for (const [type, n] of segments(b.types)) {
    if (type !== "NOTAB") for (let k = 0; k < n && picks.length < 12; k += 1) picks.push([at + k, type]);
    at += n;
    if (picks.length >= 12) break;
  }
  let tables = [];
  if (picks.length) {
    const last = picks[picks.length - 1][0] + 1;
    const [pfns, actions] = [unpackHead(b.pfns, last), unpackHead(b.actions, last)];
    tables = picks.map(([i, type]) => `PFN ${pfns[i]} ${type} ${actions[i]}`);
  }
  const what = b.batches > 1 ? `${b.batches} batches` : "batch";
  return `Last ${what} (round ${b.round}, ${b.phase}): ${packedLength(b.pfns)} PFNs — ` +
    `${count("normalised")} normalised, ${count("raw")} raw, ${count("deferred")} deferred, ` +
    `${count("xtab")} XTAB${count("lost") ? `, ${count("lost")} LOST` : ""}.` + (tables.length ? ` Not NOTAB: ${tables.join("; ")}.` : "");
}

export class MigrationPanel {
  constructor(root, store, send) {
    Object.assign(this, { root, store });
    this.toolstack = root.querySelector("[data-testid=migrate-toolstack]");
    for (const button of root.querySelectorAll("[data-phase]")) {
      const phase = button.dataset.phase;
      button.addEventListener("click", () => send(this.step(phase)));
    }
    store.on("load", () => this.render());
    store.on("event", () => this.render());
    store.on("seek", () => this.render());
  }

  // The tool stack goes with the step that starts a migration; xl is the default.
  step(phase) {
    const toolstack = this.toolstack.value;
    if (phase !== "all" && phase !== "begin") return { migrate: { phase } };
    if (toolstack === "xl") return { migrate: phase === "all" ? "all" : { phase } };
    return { migrate: { phase, toolstack } };
  }

  // view: the state as of the animation frame being played; none: the store's state.
  render(view = null) {
    const s = this.store;
    const shown = view || { migration: s.migration, host: s.guest.host, paused: s.guestPaused,
                            suspended: s.guestSuspended };
    const m = shown.migration;
    this.root.dataset.asOf = view ? "animation" : "state";
    const state = this.root.querySelector("[data-testid=migration-state]");
    state.textContent = stateText(shown);
    state.dataset.state = m.state;
    state.dataset.lost = [...m.lost.keys()].sort((a, b) => a - b).join(" ");
    const rows = m.rounds.map((r) => el("tr", {}, ...ROUND_COLUMNS.map((c) => el("td", {}, String(r[c] ?? "")))));
    this.root.querySelector("[data-testid=rounds] tbody").replaceChildren(...rows);
    this.root.querySelector(".rounds-wrap").hidden = !rows.length;
    const extra = [];
    if (m.deferred.size) extra.push(`Deferred during live rounds: PFN ${pfnList(m.deferred)}.`);
    if (m.normalised.size) extra.push(`Last sent normalised: PFN ${pfnList(m.normalised)}.`);
    this.root.querySelector("[data-testid=last-batch]").textContent =
      [batchText(m.lastBatch), ...extra].filter(Boolean).join(" ");
    // A new migration can only begin when none is under way.
    const inProgress = m.state === "in_progress";
    this.toolstack.disabled = inProgress;   // chosen when the migration begins
    for (const button of this.root.querySelectorAll("[data-phase]")) {
      const phase = button.dataset.phase;
      button.disabled = (phase === "begin" || phase === "all") ? inProgress : !inProgress;
    }
  }
}
