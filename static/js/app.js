// Bootstrap: wires the store, the Socket.IO link and the panels, opens a session (the one
// in ?session=ID, else a new one of the first Case 1 scenario), and marks the page ready
// (body data-state="ready", data-seq) once a snapshot is applied, for tests and tools.
import { Animator } from "./anim.js";
import { createSession, exportUrl } from "./api.js";
import { DisplayState } from "./display.js";
import { ExplorePanel } from "./explore.js";
import { Console } from "./console.js";
import { FrameGrid } from "./grid.js";
import { History } from "./history.js";
import { Inspector } from "./inspector.js";
import { IntentTracker } from "./intent.js";
import { installShortcuts } from "./keys.js";
import { renderLegend } from "./legend.js";
import { MigrationPanel } from "./migration.js";
import { ScriptPanel } from "./script.js";
import { P2mLink } from "./p2mlink.js";
import { SessionLink } from "./socket.js";
import { Store } from "./store.js";
import { UiState } from "./ui-state.js";
import { GridTable, installTabs, renderOverlayLegend } from "./a11y.js";
import { Focus } from "./focus.js";
import { PatchPanel } from "./patch.js";
import { Present } from "./present.js";
import { installSandbox } from "./sandbox.js";
import { ScriptSync } from "./sync.js";
import { Tour } from "./tour.js";

const $ = (sel, root = document) => root.querySelector(sel);
const body = document.body;

const store = new Store();
const display = new DisplayState(store);
const ui = new UiState();
const intent = new IntentTracker();

function setConnection(state, error) {
  const node = $("[data-testid=connection]");
  node.dataset.conn = state;
  node.textContent = { connected: "live", disconnected: "offline — reconnecting", error: "error" }[state] || state;
  if (error) node.title = error.message;
}

const link = new SessionLink(store, setConnection);
const hypercalls = new Console($("[data-testid=console]"), store, ui, link);

// ---- grids ---------------------------------------------------------------------------------
function pick(host, mfn, pfn, e, asGuestPfn) {
  // To inspect is to want the state as it is now: finish the animation first. (The
  // clicked cell is re-read from the true state, since it may have changed meanwhile.)
  if (animator.busy) {
    animator.skip();
    const grid = grids[asGuestPfn ? "guest" : host];
    const now = asGuestPfn ? store.guestFrame(pfn) : store.frame(host, mfn);
    [host, mfn, pfn] = asGuestPfn ? [grid.host, now ? now.mfn : null, pfn] : [host, mfn, now.pfn];
  }
  if (e.shiftKey) {
    hypercalls.fillEntryTarget(pfn, mfn);
    return;
  }
  ui.select(host, mfn, asGuestPfn ? pfn : null);
  hypercalls.fillPage(pfn, mfn);
}

// A PFN picked in the guest view stays selected when the guest moves to other frames
// (a migration, populate_physmap): the lecturer is following the page, not the frame.
function followGuestSelection() {
  const sel = ui.selected;
  if (!sel || sel.guestPfn === null) return;
  const f = store.guestFrame(sel.guestPfn);
  const [host, mfn] = f ? [f.host, f.mfn] : [store.guest.host, null];
  if (host !== sel.host || mfn !== sel.mfn) ui.select(host, mfn, sel.guestPfn);
}

const grids = {};
for (const mode of ["guest", "source", "destination"]) {
  grids[mode] = new FrameGrid($(`[data-testid=grid-${mode}]`), store, display, ui, mode, pick);
}

function visibleGrids() {
  return { guest: ["guest"], source: ["source"], destination: ["destination"],
           both: ["source", "destination"] }[ui.view];
}

// Captions follow the grids, i.e. the state the animation has reached.
function captions() {
  const { pages } = store.guest;
  const guestHost = display.guestHost;
  $("figure[data-grid=guest] figcaption").textContent =
    `Guest PFNs 0–${pages - 1}, each shown by its frame on the ${guestHost} host`;
  for (const host of ["source", "destination"]) {
    const h = store.hosts[host];
    const here = guestHost === host ? " · guest here" : "";
    $(`figure[data-grid=${host}] figcaption`).textContent =
      `${host[0].toUpperCase()}${host.slice(1)} host, MFN 0–${h.frames - 1}${here}${h.log_dirty ? " · log-dirty" : ""}`;
  }
  $("[data-testid=guest-where]").textContent =
    `Guest on ${guestHost}${store.guestStopped ? " (suspended)" : ""} · Xen ${store.meta.xen}`;
}

function layout() {
  if (!store.loaded) return;
  const shown = visibleGrids();
  for (const [mode, grid] of Object.entries(grids)) {
    grid.canvas.closest("figure").hidden = !shown.includes(mode);
  }
  for (const tab of document.querySelectorAll("[data-view]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.view === ui.view));
  }
  const area = $("[data-testid=grids]");
  const width = (area.clientWidth - (shown.length - 1) * 24) / shown.length;
  const height = present.on ? present.gridHeight() : Math.max(320, window.innerHeight * 0.62);
  for (const mode of shown) grids[mode].layout(width, height, present.on);
  draw();
}

function draw() {
  if (!store.loaded) return;
  captions();
  for (const mode of visibleGrids()) grids[mode].draw();
}

// Centre of the cell showing frame `mfn` of `host` in the visible grids, in client pixels.
function locate(host, mfn) {
  for (const mode of visibleGrids()) {
    const centre = grids[mode].clientCentre(grids[mode].indexOf(host, mfn));
    if (centre) return centre;
  }
  return null;
}

ui.on((what) => (what === "view" ? layout() : draw()));
window.addEventListener("resize", layout);
for (const tab of document.querySelectorAll("[data-view]")) {
  tab.addEventListener("click", () => ui.setView(tab.dataset.view));
}

// ---- panels --------------------------------------------------------------------------------
const inspector = new Inspector($("[data-testid=inspector]"), store, ui, intent,
  (detail, entry) => hypercalls.fillEntry(detail, entry));
const script = new ScriptPanel($(".script-panel"), $(".topbar"), store, link, openSession);
new History($("[data-testid=history]"), store, intent, (events) => {
  script.replay(events);
  inspector.refresh();   // intents are known now: stale marks may change
});
const migrationPanel = new MigrationPanel($("[data-testid=migration]"), store,
  (step) => hypercalls.send(step));
const animator = new Animator($("[data-testid=anim]"), $("[data-testid=flow-overlay]"), store,
  display, ui, locate);
const p2mLink = new P2mLink($("[data-testid=flow-overlay]"), store, ui, locate,
  () => animator.busy);
for (const grid of Object.values(grids)) {
  grid.onHover = (host, mfn, pfn) => (host === null ? p2mLink.clear() : p2mLink.show(host, mfn, pfn));
}
renderLegend($("[data-testid=legend]"));
renderOverlayLegend($("[data-testid=legend]"));

// ---- teaching: narration, questions, failures, the patch, present mode ----------------------
const focus = new Focus(store, ui);
store.on("event", (ev) => focus.event(ev));
const runScript = script.run.bind(script);
const tour = new Tour($(".grid-panel"), store, (count) => runScript(count));
const sync = new ScriptSync($(".script-panel"), store, link, () => script.currentFile(), openSession);
// Next / Run to end wait while a question is open.
script.run = (count) => (tour.guard() ? runScript(count) : null);
new PatchPanel($("[data-testid=inspector]"), store, ui);
new GridTable($("[data-testid=grids]").parentElement, store, ui,
  (sel) => grids[ui.view === "both" ? (sel ? sel.host : "source") : ui.view]);
const present = new Present(store, {
  next: () => script.run(1),
  // Stepping back needs the timeline's seek; without it the Back control is hidden.
  back: () => window.pvframes.seek?.(store.seq - 1),
  canBack: () => typeof window.pvframes.seek === "function",
}, () => layout());
installSandbox($(".topbar"), openSession, (text) => script.showError(text));
installTabs();
new ExplorePanel($("[data-testid=explore]"), store, link.socket, openSession);

let showedBothHosts = false;
store.on("load", () => {
  window.pvframes.loads += 1;
  showedBothHosts = store.migration.state !== "not_started";
  if (showedBothHosts) ui.view = "both";
  body.dataset.state = "ready";
  body.dataset.seq = String(store.seq);
  body.dataset.session = store.sessionId;
  $("[data-testid=seq]").textContent = String(store.seq);
  $("[data-testid=export]").href = exportUrl(store.sessionId);
  layout();
});
store.on("event", (event) => {
  followGuestSelection();
  body.dataset.seq = String(store.seq);
  $("[data-testid=seq]").textContent = String(store.seq);
  // Migration is about two hosts: show them side by side the first time it happens.
  if (event.op === "migrate" && !showedBothHosts) {
    showedBothHosts = true;
    ui.setView("both");
  } else {
    draw();
  }
});

function showFailure(what, err) {
  body.dataset.state = "error";
  $("[data-testid=scenario-title]").textContent = `${what}: ${err.message}`;
}

async function openSession(id) {
  body.dataset.state = "loading";
  const url = new URL(window.location.href);
  url.searchParams.set("session", id);
  window.history.replaceState(null, "", url);
  try {
    await link.join(id);
  } catch (err) {
    showFailure("Could not open the session", err);
  }
}

// Arrow keys walk the selection over the grid in view (the selected host's, in "both").
function moveSelection(dx, dy) {
  const sel = ui.selected;
  const mode = ui.view !== "both" ? ui.view : (sel && sel.guestPfn === null ? sel.host : "source");
  const grid = grids[mode];
  const at = sel ? grid.indexOf(sel.host, sel.mfn) : null;
  const i = at === null ? 0 : Math.max(0, Math.min(grid.count() - 1, at + dx + dy * grid.cols));
  const { mfn, pfn } = grid.frameAt(i);
  animator.skip();
  ui.select(grid.host, mfn, mode === "guest" ? pfn : null);
  hypercalls.fillPage(pfn, mfn);
}

installShortcuts({
  next: () => script.run(1),
  runAll: () => script.run("all"),
  pin: () => hypercalls.pinSelected(),
  unpin: () => hypercalls.unpinSelected(),
  write: () => hypercalls.writeSelected(),
  migrateAll: () => hypercalls.send(migrationPanel.step("all")),
  skip: () => animator.skip(),
  view: (v) => ui.setView(v),
  clear: () => ui.select(null),
  move: moveSelection,
}, $("[data-testid=help]"));
$("[data-testid=help-open]").addEventListener("click", () => $("[data-testid=help]").showModal());

// Hooks for browser tests and for poking at the state from the devtools console.
window.pvframes = {
  store, ui, link, tour, present, sync,
  loads: 0,   // snapshots applied: a catch-up after a reconnect must not add one
  frame: (host, mfn) => store.frame(host, mfn),
  guestFrame: (pfn) => store.guestFrame(pfn),
  shownGuestFrame: (pfn) => display.guestFrame(pfn),   // as the grid draws it now
  cellCentre: (host, mfn) => locate(host, mfn),   // client pixels of a shown frame, or null
  // Per host, per frame: [owner, type, count, type_count, flags, m2p], as in a snapshot.
  hostState() {
    const m = store.migration;
    const out = {
      seq: store.seq, guestHost: store.guest.host, p2m: store.hosts[store.guest.host].p2m,
      migration: { state: m.state, rounds: m.rounds, deferred: [...m.deferred].sort((a, b) => a - b),
                   normalised: [...m.normalised].sort((a, b) => a - b),
                   lost: [...m.lost.keys()].sort((a, b) => a - b) },
    };
    for (const [name, h] of Object.entries(store.hosts)) {
      out[name] = h.owner.map((o, i) => [h.owners[o], store.types[h.type[i]], h.count[i],
                                         h.type_count[i], h.flags[i], h.m2p[i]]);
    }
    return out;
  },
  // Centre of a cell of grid `mode` in client pixels (for clicking it).
  cellCentre: (mode, index) => grids[mode].clientCentre(index),
};

async function boot() {
  const catalogue = await script.loadCatalogue();
  let id = body.dataset.session || new URL(window.location.href).searchParams.get("session");
  if (!id) {
    const first = catalogue.find((s) => s.source === "shared" && s.name.startsWith("case1")) ||
      catalogue[0];
    id = (await createSession(first ? { scenario_file: first.name } : {})).id;
  }
  await openSession(id);
}

boot().catch((err) => showFailure("Could not start", err));
