// Bootstrap: wires the store, the Socket.IO link and the panels, opens a session (the one
// in ?session=ID, else a new one of the first Case 1 scenario), and marks the page ready
// (body data-state="ready", data-seq) once a snapshot is applied, for tests and tools.
import { Animator } from "./anim.js";
import { createCompare, createSession, exportUrl, getAllEvents, getShapes, getSnapshot } from "./api.js";
import { ComparePane, compareIds, compareUrl } from "./compare.js";
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
import { Timeline, momentUrl } from "./timeline.js";
import { UiState } from "./ui-state.js";
import { GridTable, installTabs, renderOverlayLegend } from "./a11y.js";
import { Focus } from "./focus.js";
import { PatchPanel } from "./patch.js";
import { Present } from "./present.js";
import { installSandbox } from "./sandbox.js";
import { ScriptSync } from "./sync.js";
import { Tour } from "./tour.js";
import { Follow } from "./follow.js";
import { flushScrolls } from "./dom.js";
import { installEmbed } from "./embed.js";
import { addTokens, takeFragmentToken } from "./roles.js";

const $ = (sel, root = document) => root.querySelector(sel);
const body = document.body;

const store = new Store();
// (held-back values finished in the background: redraw in a frame of its own)
const display = new DisplayState(store, () => requestAnimationFrame(() => draw()));
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
  // To inspect is to want the state as it is now: finish the animation first (the
  // clicked cell is re-read from the true state, since it may have changed meanwhile);
  // a paused animation stays where it is, and the inspector shows the frame as of it.
  if (animator.busy && !animator.paused) {
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

let pane = null;   // the compare view's other session, when ?compare=A,B

function visibleGrids() {
  if (pane) return [ui.view === "both" ? "guest" : ui.view];   // one grid per pane
  return { guest: ["guest"], source: ["source"], destination: ["destination"],
           both: ["source", "destination"] }[ui.view];
}

// Captions follow the grids, i.e. the state the animation has reached.
function captions() {
  const { pages } = store.guest;
  const guestHost = display.guestHost;
  $("figure[data-grid=guest] figcaption").textContent = pane
    ? paneCaption(store, here())
    : `Guest PFNs 0–${pages - 1}, each shown by its frame on the ${guestHost} host`;
  $("figure[data-grid=guest]").dataset.ended = String(Boolean(pane) && here() > store.head);
  for (const host of ["source", "destination"]) {
    const h = store.hosts[host];
    const here = guestHost === host ? " · guest here" : "";
    $(`figure[data-grid=${host}] figcaption`).textContent =
      `${host[0].toUpperCase()}${host.slice(1)} host, MFN 0–${h.frames - 1}${here}${display.domain(host, "log_dirty") ? " · log-dirty" : ""}`;
  }
  $("[data-testid=guest-where]").textContent =
    `Guest on ${guestHost}${display.guestStopped ? " (suspended)" : ""} · Xen ${store.meta.xen}`;
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
  const panes = shown.length + (pane ? 1 : 0);
  const width = (area.clientWidth - (panes - 1) * 24) / panes;
  // The grids take what the stage leaves them (the window never scrolls); less a caption.
  const height = present.on ? present.gridHeight() : Math.max(120, area.clientHeight - 48);
  for (const mode of shown) grids[mode].layout(width, height, present.on);
  pane?.layout(width, height);
  draw();
}

function draw() {
  if (!store.loaded) return;
  captions();
  for (const mode of visibleGrids()) grids[mode].draw();
  pane?.draw();
}

// Centre of the cell showing frame `mfn` of `host` in the visible grids, in client pixels.
function locate(host, mfn, near = false) {
  for (const mode of visibleGrids()) {
    const i = grids[mode].indexOf(host, mfn);
    const centre = near ? grids[mode].clientPoint(i) : grids[mode].clientCentre(i);
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
  (detail, entry) => hypercalls.fillEntry(detail, entry), display);
const script = new ScriptPanel($(".script-panel"), $(".topbar"), store, link, openSession);
const history = new History($("[data-testid=history]"), store, intent, (events) => {
  script.replay(events);
  inspector.refresh();   // intents are known now: stale marks may change
}, (seq) => seekAll(seq));
const migrationPanel = new MigrationPanel($("[data-testid=migration]"), store,
  (step) => hypercalls.send(step));
const animator = new Animator($("[data-testid=anim]"), $("[data-testid=flow-overlay]"), store,
  display, ui, locate);
// While an event plays, every panel shows the state as of the group being played: the
// grids (display.js), the inspector and the patch panel (the selected frame rebuilt from
// the event's deltas), the migration panel (only a migrate step changes its state), the
// history, script and timeline (which event is playing, how far).
animator.onPlayed = (event, upto, frame) => {
  const view = event && event.op === "migrate" ? store.migrationAsOf(event, upto) : null;
  if (view) {
    view.paused = display.domain(view.host, "paused");
    view.suspended = display.domain(view.host, "suspended");
  }
  migrationPanel.render(view);
  inspector.asOf(event, upto);
  const playing = event ? { seq: event.seq, upto, n: frame.n, of: frame.of } : null;
  history.showPlaying(playing);
  script.showPlaying(playing);
  timeline.showPlaying(playing);
  if (!event) followGuestSelection();   // a PFN selected mid-way follows it to its frame now
  captions();
};
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
// In the compare view both scripts have run: Next and Run to end move the timeline.
script.run = (count) => {
  if (pane) return seekAll(count === "all" ? extent() : here() + 1);
  return tour.guard() ? runScript(count) : null;
};
const patchPanel = new PatchPanel($("[data-testid=inspector]"));
inspector.onShown = (detail) => patchPanel.show(detail);
new GridTable($("[data-testid=inspector]"), store, ui,
  (sel) => grids[ui.view === "both" ? (sel ? sel.host : "source") : ui.view]);
const present = new Present(store, {
  // As n and the timeline's keys: in the past, forward replays what happened next.
  next: () => (store.live && !pane ? script.run(1) : seekAll(here() + 1)),
  back: () => seekAll(here() - 1),
  canBack: () => here() > 0,
}, () => layout());
installSandbox($(".topbar"), openSession, (text) => script.showError(text), openImported);
installTabs();
new ExplorePanel($("[data-testid=explore]"), store, link.socket, openSession);
// Presenter and followers (docs/classroom.md): a presenter link's token, the class bar.
takeFragmentToken();
const follow = new Follow($(".topbar"), { store, ui, link, tour, openSession });
addTokens(link, () => follow.readOnly);
installEmbed(present, follow);

// ---- the timeline -----------------------------------------------------------------------------
// Every pane follows one timeline (the compare view adds a second store). It spans the
// longer session: past the end of the shorter one, that pane shows its last state, marked.
const followers = [];
let moment = null;   // compare view: the timeline's position (null: the page's seq)
const extent = () => Math.max(store.head, ...followers.map((f) => f.head));
const here = () => (pane && moment !== null ? moment : store.seq);
function seekAll(n) {
  animator.skip();
  n = Math.max(0, Math.min(extent(), Math.round(n)));
  if (pane) moment = n;
  store.seek(Math.min(n, store.head));
  for (const other of followers) other.seek(Math.min(n, other.head));
  if (pane) {   // the page's own session may not have moved: show the position anyway
    showPosition();
    timeline.render();
    draw();
    followUrl();
    // Next / Run to end move both panes until the longer run's end.
    script.nextButton.disabled = script.allButton.disabled = here() >= extent();
  }
}
// "Title · Xen v · seq N of H", and past its end, that it shows its last state.
function paneCaption(s, at) {
  const ended = at > s.head ? ` · ENDED at seq ${s.head}: its last state` : "";
  return `${s.meta.title} · Xen ${s.meta.xen} · seq ${Math.min(at, s.head)} of ${s.head}${ended}`;
}
const timeline = new Timeline($("[data-testid=timeline]"), store, seekAll);
script.seekTo = seekAll;
// A phase of a migrate step in the script: show that step again, animated from the phase.
script.replayFrom = (seq, from) => {
  seekAll(seq);
  if (store.seq === seq) animator.replay(store.log[seq - 1], from);
};

function showPosition() {
  body.dataset.seq = String(store.seq);
  body.dataset.head = String(store.head);
  body.dataset.past = String(!store.live);
  body.dataset.moment = String(here());   // the timeline's position (compare: of both)
  $("[data-testid=seq]").textContent = String(here());
}

// The whole history (and the state at seq 0) lets the store show any moment; a link may
// ask for one (?seq=N).
let wantSeq = null;   // {id, seq}: for that session only (a history still loading for the
                      // session opened before it must not take it)
async function loadHistory() {
  const id = store.sessionId;
  const [{ events }, snap0] = await Promise.all([getAllEvents(id, 0), getSnapshot(id, 0)]);
  if (store.sessionId !== id) return;
  store.setHistory(events, snap0);
  body.dataset.timeline = store.index ? "ready" : "partial";
  if (wantSeq !== null && wantSeq.id === id && store.index) {
    const n = wantSeq.seq;
    wantSeq = null;
    seekAll(n);
  }
}

// Looking at the past, a step that changes the session starts a fork from there: the
// original stays as it was, linked from the fork.
link.beforeChange = async () => {
  if (pane) {   // a step goes to both sessions (pane.mirror), at the end of both
    if (!store.live || !pane.store.live) {
      throw new Error("in the compare view a step runs in both sessions at their end: press End first");
    }
    return;
  }
  if (store.live) return;
  const from = { session: store.sessionId, seq: store.seq };
  const forked = await link.fork(store.seq);
  await openSession(forked.id);
  body.dataset.forkedFrom = `${from.session}:${from.seq}`;
};

let urlTimer = null;
store.on("seek", () => {
  followGuestSelection();
  showPosition();
  if (store.migration.state !== "not_started" && !showedBothHosts) {
    showedBothHosts = true;
    ui.setView("both");
  } else {
    draw();
  }
  followUrl();
});

// The address follows the moment, debounced: browsers throttle rapid replaceState().
function followUrl() {
  clearTimeout(urlTimer);
  urlTimer = setTimeout(() => {
    const url = pane ? compareUrl(...pane.ids, here())
      : momentUrl(store.sessionId, store.seq, store.live);
    for (const [k, v] of new URL(window.location.href).searchParams) {
      if (!["session", "seq", "compare"].includes(k)) url.searchParams.set(k, v);   // present=1...
    }
    window.history.replaceState(null, "", url);
  }, 100);
}
store.on("extend", () => showPosition());

// Frames holding page-table entries without being page tables: asked of the server after
// each change of the moment shown (contents are not in the client's state).
let shapesToken = 0;
async function refreshShapes() {
  const token = ++shapesToken;
  const id = store.sessionId;
  const seq = store.live ? null : store.seq;
  try {
    const { pt_shaped: shaped } = await getShapes(id, seq);
    if (token !== shapesToken) return;
    const keys = new Set(Object.entries(shaped).flatMap(([h, mfns]) => mfns.map((m) => `${h}:${m}`)));
    for (const grid of Object.values(grids)) grid.shapes = keys;
    body.dataset.shapes = String(keys.size);
    draw();
  } catch {
    // marks only: the page works without them
  }
}
// Debounced: dragging the scrubber must not queue a request per event passed.
let shapesTimer = null;
for (const name of ["load", "event", "seek"]) {
  store.on(name, () => {
    clearTimeout(shapesTimer);
    shapesTimer = setTimeout(refreshShapes, 120);
  });
}

let showedBothHosts = false;
store.on("load", () => {
  window.pvframes.loads += 1;
  showedBothHosts = store.migration.state !== "not_started";
  if (showedBothHosts) ui.view = "both";
  body.dataset.state = "ready";
  body.dataset.timeline = "loading";
  body.dataset.session = store.sessionId;
  showPosition();
  exportHref();
  layout();
  // The grid first: the history (a second snapshot, every event replayed once) is loaded
  // when the page is idle, i.e. once a large guest's blocks are drawn.
  const id = store.sessionId;
  const later = window.requestIdleCallback || ((fn) => setTimeout(fn, 0));
  later(() => {
    if (store.sessionId !== id) return;
    loadHistory().catch((err) => {
      body.dataset.timeline = "error";
      $("[data-testid=tl-position]").textContent = `history not loaded: ${err.message}`;
    });
  }, { timeout: 3000 });
});
store.on("event", (event) => {
  followGuestSelection();
  showPosition();
  // Migration is about two hosts: show them side by side the first time it happens.
  // (in a frame of its own: laying out two more large grids is work of its own)
  if (event.op === "migrate" && !showedBothHosts) {
    showedBothHosts = true;
    draw();
    requestAnimationFrame(() => ui.setView("both"));
  } else {
    draw();
  }
});

// The export link names the moment in view, so the file opens there again (position).
const POSITION_VIEWS = ["guest", "source", "destination", "both"];
function exportHref() {
  if (!store.loaded) return;
  const sel = ui.selected;
  $("[data-testid=export]").href = exportUrl(store.sessionId, {
    seq: store.seq,
    view: POSITION_VIEWS.includes(ui.view) ? ui.view : null,
    frame: sel && sel.mfn !== null ? `${sel.host}:${sel.mfn}` : null,
  });
}
for (const name of ["event", "seek", "extend"]) store.on(name, exportHref);
ui.on((what) => { if (what === "view" || what === "selected") exportHref(); });

// An imported file with a position (docs/scenario-extensions.md) opens at that moment: this
// page presents the new session, runs its script that far, then shows the file's variant,
// view and frame.
async function openImported(created) {
  const pos = created.position;
  let seq = created.seq;
  while (pos && seq < pos.seq) {
    const ack = await link.call("run", { session: created.id, count: pos.seq - seq,
                                         token: created.token });
    if (!ack.events.length) break;
    seq = ack.seq;
  }
  await openSession(created.id);
  if (!pos) return;
  if (pos.variant && pos.variant !== store.meta.xen) await script.switchVariant(pos.variant);
  if (POSITION_VIEWS.includes(pos.view)) ui.setView(pos.view);
  if (pos.frame) ui.select(pos.frame.on, pos.frame.mfn);
}

function showFailure(what, err) {
  body.dataset.state = "error";
  $("[data-testid=scenario-title]").textContent = `${what}: ${err.message}`;
}

async function openSession(id, seq = null) {
  body.dataset.state = "loading";
  delete body.dataset.forkedFrom;
  wantSeq = seq === null ? null : { id, seq };
  if (!compareIds(new URL(window.location.href).searchParams)) {
    window.history.replaceState(null, "", momentUrl(id, seq ?? 0, seq === null));
  }
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
  if (!animator.paused) animator.skip();
  ui.select(grid.host, mfn, mode === "guest" ? pfn : null);
  hypercalls.fillPage(pfn, mfn);
}

installShortcuts({
  // In the past the script's next step already happened: play it forward again.
  // In the compare view both sessions have run their scripts: n and r move the timeline.
  next: () => (store.live && !pane ? script.run(1) : seekAll(here() + 1)),
  runAll: () => (store.live && !pane ? script.run("all") : seekAll(extent())),
  back: () => seekAll(here() - 1),
  forward: () => seekAll(here() + 1),
  start: () => seekAll(0),
  end: () => seekAll(extent()),
  jump: () => $("[data-testid=tl-seq]").focus(),
  pin: () => hypercalls.pinSelected(),
  unpin: () => hypercalls.unpinSelected(),
  write: () => hypercalls.writeSelected(),
  migrateAll: () => hypercalls.send(migrationPanel.step("all")),
  skip: () => animator.skip(),
  pause: () => animator.togglePause(),
  view: (v) => ui.setView(v),
  clear: () => ui.select(null),
  move: moveSelection,
}, $("[data-testid=help]"));
$("[data-testid=help-open]").addEventListener("click", () => $("[data-testid=help]").showModal());

// Hooks for browser tests and for poking at the state from the devtools console.
window.pvframes = {
  store, ui, link, tour, present, sync, timeline, seek: seekAll, follow,
  flushScrolls,   // the lists' scrolling, deferred to the next frame: now (benchmarks)
  animator,       // .current: the group being played ({event, upto, n, of}), .paused
  loads: 0,   // snapshots applied: a catch-up after a reconnect must not add one
  frame: (host, mfn) => store.frame(host, mfn),
  guestFrame: (pfn) => store.guestFrame(pfn),
  shownGuestFrame: (pfn) => display.guestFrame(pfn),   // as the grid draws it now
  cellCentre: (host, mfn) => locate(host, mfn),   // client pixels of a shown frame, or null
  // Per host, per frame: [owner, type, count, type_count, flags, m2p], as in a snapshot.
  hostState() {
    const m = store.migration;
    const out = {
      seq: store.seq, guestHost: store.guest.host, p2m: Array.from(store.hosts[store.guest.host].p2m),
      migration: { state: m.state, rounds: m.rounds, deferred: [...m.deferred].sort((a, b) => a - b),
                   normalised: [...m.normalised].sort((a, b) => a - b),
                   lost: [...m.lost.keys()].sort((a, b) => a - b) },
    };
    for (const [name, h] of Object.entries(store.hosts)) {
      out[name] = Array.from(h.owner, (o, i) => [h.owners[o], store.types[h.type[i]], h.count[i],
                                         h.type_count[i], h.flags[i], h.m2p[i]]);
    }
    return out;
  },
  // Marks on cell `index` of grid `mode` that are not page_info: badge, ptShaped, ghost.
  cellMarks(mode, index) {
    const g = grids[mode];
    const { frame, mfn, pfn } = g.frameAt(index);
    const f = { ...frame };
    g.decorate(f, mfn, pfn);
    return { badge: f.badge || null, ptShaped: Boolean(f.ptShaped),
             ghost: g.ghostMap?.get(index) ?? null };
  },
  // Centre of a cell of grid `mode` in client pixels (for clicking it).
  cellCentre: (mode, index) => grids[mode].clientCentre(index),
};

async function boot() {
  const catalogue = await script.loadCatalogue();
  const params = new URL(window.location.href).searchParams;
  const pair = compareIds(params);
  let id = pair ? pair[0] : body.dataset.session || params.get("session");
  const seq = params.get("seq");
  if (!id) {
    const first = catalogue.find((s) => s.source === "shared" && s.name.startsWith("case1")) ||
      catalogue[0];
    id = (await createSession(first ? { scenario_file: first.name } : {})).id;
  }
  await openSession(id, seq !== null && /^\d+$/.test(seq) ? Number(seq) : null);
  if (pair) {
    pane = new ComparePane({ store, ui, inspector, seekAll, here, paneCaption,
                             gridsArea: $("[data-testid=grids]"),
                             selectPfn }, pair);
    followers.push(pane);
    window.pvframes.compare = pane;
    timeline.span = {
      end: extent, at: here, link: () => compareUrl(...pane.ids, here()),
      state: () => (here() === extent() ? "the end of both" : "both panes at this step"),
    };
    // A step goes to both sessions: lockstep (link.beforeChange allows it at their ends).
    const stepOne = link.step.bind(link);
    link.step = async (step) => {
      const event = await stepOne(step);
      await pane.mirror(step);
      seekAll(extent());
      return event;
    };
    layout();
    await pane.open();
    // The moment asked for may lie past the end of this session (the other is longer).
    for (let i = 0; i < 200 && !store.index; i += 1) await new Promise((r) => setTimeout(r, 50));
    seekAll(seq !== null && /^\d+$/.test(seq) ? Number(seq) : store.seq);
    layout();
  }
}

// Select a guest PFN as if clicked in the guest view (f: its frame, or null).
function selectPfn(pfn, f) {
  ui.select(f ? f.host : store.guest.host, f ? f.mfn : null, pfn);
  hypercalls.fillPage(pfn, f ? f.mfn : null);
}

// ---- compare: one action puts two runs side by side ---------------------------------------
async function compareWith(body) {
  const at = store.seq;
  try {
    const { a, b } = await createCompare(body);
    window.location.assign(compareUrl(a, b, at));
  } catch (err) {
    script.showError(`Could not compare: ${err.message}`);
  }
}
$("[data-testid=compare-variants]").addEventListener("click", () =>
  compareWith({ session: store.sessionId }));
$("[data-testid=compare-scenario]").addEventListener("click", () => {
  const mine = script.currentFile();
  const other = $("[data-testid=scenario-select]").value;
  if (!mine) {
    script.showError("This session's scenario is not in the catalogue: pick both in the menu.");
    return;
  }
  compareWith({ scenario_files: [mine, other], xen: store.meta.xen });
});

boot().catch((err) => showFailure("Could not start", err));
