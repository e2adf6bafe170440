// The client's copy of one session: loaded from a snapshot, then advanced event by event
// by applying each event's deltas (docs/deltas.md). `head` is the last event known, `seq`
// the moment the state shows: the same while live; earlier after a seek (timeline.js),
// reached from a stored checkpoint plus deltas applied forward or undone backward.
import { FLAG, applyDelta, packedLength, segments, undoDelta, unpack, unpackInts } from "./deltas.js";
import { isScriptStep } from "./steps.js";

export const CHECKPOINT_EVERY = 64;
const LARGE = 1 << 16;                // items in an event's deltas from which it is applied in slices
const SLICE_MS = 24;                  // ... of about this long, each its own task   // a full copy of the state every this many events
const CLONE_COST = 8;                 // restoring a checkpoint costs about as much as 8 events

// How a PFN last travelled, as stored in `outcome` (0: not sent in this migration).
export const ACTIONS = ["raw", "normalised", "deferred", "xtab", "lost"];
export const OUTCOME = Object.fromEntries(ACTIONS.map((a, i) => [a, i + 1]));

// lost: pfn -> {kept_round}; for the badges and the ghost after a migration: outcome:
// Uint8Array by PFN, how it last travelled (OUTCOME codes); localised: the PFNs the restore
// side localised; left: Int32Array by source MFN, the PFN it held (-1: none), leftSize of
// them set. outcome and left are a guest's size: copies share them until one changes them
// (`owned`), so a record per event costs nothing.
function emptyMigration() {
  return { state: "not_started", phase: null, src: null, dst: null, rounds: [],
           deferred: new Set(), normalised: new Set(), error: null, lastBatch: null,
           toolstack: null, lost: new Map(), outcome: null, localised: new Set(),
           left: null, leftSize: 0, owned: false };
}

function cloneMigration(m) {
  m.owned = false;   // the arrays are shared from now on: whoever changes them copies first
  return { ...m, rounds: m.rounds.map((r) => ({ ...r })), deferred: new Set(m.deferred),
           normalised: new Set(m.normalised), lost: new Map(m.lost),
           localised: new Set(m.localised) };
}

// The name of how `pfn` last travelled, or undefined.
export function outcomeOf(m, pfn) {
  const code = m.outcome && pfn !== null && pfn >= 0 ? m.outcome[pfn] : 0;
  return code ? ACTIONS[code - 1] : undefined;
}

// [source MFN, PFN] of every frame the guest left behind.
export function* leftEntries(m) {
  if (!m.left) return;
  for (let mfn = 0; mfn < m.left.length; mfn += 1) if (m.left[mfn] >= 0) yield [mfn, m.left[mfn]];
}

// How many frames, PFNs and slots an event's deltas name: the work of applying it.
function itemsOf(event) {
  let n = 0;
  for (const d of event.deltas || []) {
    const many = d.mfns ?? d.pfns;
    n += many !== undefined && many !== null ? packedLength(many) : 1;
  }
  return n;
}

// Whole events: forward in order, backward last delta first (deltas.js does one delta).
function undoEvent(state, event) {
  const ds = event.deltas || [];
  for (let i = ds.length - 1; i >= 0; i -= 1) undoDelta(state, ds[i]);
}

// A column of a snapshot (a list or a packed array, docs/protocol.md) as an Int32Array.
const column = (v) => (v === null || v === undefined ? null : unpackInts(v));

function cloneHost(h) {
  return { ...h, owners: [...h.owners], owner: h.owner.slice(), count: h.count.slice(),
           type: h.type.slice(), type_count: h.type_count.slice(), flags: h.flags.slice(),
           m2p: h.m2p.slice(), p2m: h.p2m ? h.p2m.slice() : null, dirty: new Set(h.dirty) };
}

// What a snapshot says, in the store's shape (arrays copied).
function stateOf(snap) {
  const hosts = {};
  for (const [name, h] of Object.entries(snap.hosts)) {
    hosts[name] = {
      frames: h.frames, owners: [...h.owners], owner: column(h.owner), count: column(h.count),
      type: column(h.type), type_count: column(h.type_count), flags: column(h.flags),
      m2p: column(h.m2p), cr3: h.cr3, log_dirty: h.log_dirty, dirty: new Set(unpack(h.dirty)),
      // A host without the guest has no P2M yet; created on its first p2m delta.
      p2m: column(h.p2m),
      paused: name === snap.guest.host && snap.guest.paused,
      suspended: name === snap.guest.host && Boolean(snap.guest.suspended),
    };
  }
  if (!hosts[snap.guest.host].p2m) hosts[snap.guest.host].p2m = column(snap.guest.p2m);
  const m = snap.migration || {};
  const migration = Object.assign(emptyMigration(), {
    state: m.state || "not_started", phase: m.phase ?? null, src: m.src ?? null,
    dst: m.dst ?? null, rounds: (m.rounds || []).map((r) => ({ ...r })),
    deferred: new Set(unpack(m.deferred || [])), normalised: new Set(unpack(m.normalised || [])),
    error: m.error ?? null, toolstack: m.toolstack ?? null,
    lost: new Map((m.lost_detail || []).map((l) => [l.pfn, { kept_round: l.kept_round }])),
  });
  return { types: snap.types, hosts, migration, cursor: snap.cursor || 0,
           guest: { pages: snap.guest.pages, layout: snap.guest.layout, host: snap.guest.host } };
}

// The model state and how events change it; shared by the Store and the timeline's index.
export class ModelState {
  setState({ types, hosts, migration, cursor, guest }) {
    Object.assign(this, { types, hosts, migration, cursor, guest });
  }

  // A copy that later changes to this state do not touch.
  capture() {
    const hosts = {};
    for (const [name, h] of Object.entries(this.hosts)) hosts[name] = cloneHost(h);
    return { types: this.types, hosts, migration: cloneMigration(this.migration),
             cursor: this.cursor, guest: { ...this.guest } };
  }

  restore(copy) {
    const hosts = {};
    for (const [name, h] of Object.entries(copy.hosts)) hosts[name] = cloneHost(h);
    this.setState({ ...copy, hosts, migration: cloneMigration(copy.migration),
                    guest: { ...copy.guest } });
  }

  // The small part of the state deltas do not carry back (derived by the client).
  record() {
    const stopped = {};
    for (const [name, h] of Object.entries(this.hosts)) {
      stopped[name] = { paused: h.paused, suspended: h.suspended, frames: h.frames };
    }
    return { migration: cloneMigration(this.migration), host: this.guest.host, cursor: this.cursor,
             pages: this.guest.pages, stopped };
  }

  // One delta forward: the state (deltas.js), and the derived migration summary.
  forward(d) {
    if (d.kind === "migration") { this.applyMigration(d); return; }
    applyDelta(this, d);
    if (d.kind === "p2m") this.countPopulated(d.host, [d.old]);
    if (d.kind === "p2m_many") this.countPopulated(d.host, unpackInts(d.old));
  }

  advance(event) {
    for (const d of event.deltas || []) this.forward(d);
    this.moveCursor(event);
  }

  // What an event does to the summary alone (a record), without the hosts' frames: for
  // the timeline while the page shows the past and so does not apply new events itself.
  advanceSummary(event) {
    for (const d of event.deltas || []) {
      if (d.kind === "migration") this.applyMigration(d);
      else if (d.kind === "domain" && (d.field === "paused" || d.field === "suspended")) {
        this.hosts[d.host][d.field] = d.new;
      } else if (d.kind === "p2m") this.countPopulated(d.host, [d.old]);
      else if (d.kind === "p2m_many") this.countPopulated(d.host, unpackInts(d.old));
    }
    this.moveCursor(event);
  }

  moveCursor(event) {
    if (this.cursor < this.script.length &&
        isScriptStep(event.step, this.script[this.cursor], this.meta.xen)) {
      this.cursor += 1;
    }
  }

  // Round statistics are not sent as deltas; they are rebuilt from the migration notes
  // exactly as libxenguest's counters are incremented (engine/migration.py RoundStats).
  // light: the round counts and sets only, not `outcome` / `left` (the migration panel's
  // view of an event half played).
  applyMigration(d, light = false) {
    const m = this.migration;
    const round = m.rounds[m.rounds.length - 1];
    switch (d.event) {
      case "phase":
        if (d.phase === "begin") Object.assign(m, emptyMigration());
        Object.assign(m, { state: "in_progress", phase: d.phase, src: d.src, dst: d.dst,
                           toolstack: d.toolstack ?? m.toolstack });
        m.rounds.push({ round: m.rounds.length + 1, phase: d.phase, sent: 0, xtab: 0,
                        normalised: 0, deferred: 0, localised: 0, populated: 0, pinned: 0,
                        lost: 0 });
        break;
      case "batch": this.applyBatch(d, light); break;
      case "localise": {
        const pfns = unpackInts(d.pfns);
        for (let i = 0; i < pfns.length; i += 1) m.localised.add(pfns[i]);
        round.localised += pfns.length;
        break;
      }
      // The final pass could not normalise it (toolstack xl): its contents stay behind.
      case "lost": m.lost.set(d.pfn, { kept_round: d.kept_round }); break;
      case "pin": if (d.rc === 0) round.pinned += 1; break;
      case "resumed":
        m.state = "ok";
        this.guest.host = d.host;
        break;
      case "failed":
        m.state = "failed";
        m.error = d.why;
        break;
      default: break;
    }
  }

  // A round's PAGE_DATA records (docs/deltas.md): counted a run of equal actions at a
  // time, and written into the typed `outcome` / `left` (a million PFNs in milliseconds).
  applyBatch(d, light) {
    const m = this.migration;
    const round = m.rounds[m.rounds.length - 1];
    const sets = m.normalised.size || !light ||
      segments(d.actions).some(([a]) => a === "deferred" || a === "normalised");
    const pfns = sets ? unpackInts(d.pfns) : null;   // the panel's counts need no PFNs
    const stopped = this.guestStopped;
    let outcome = null;
    let left = null;
    if (!light) {
      if (!m.owned || !m.outcome) {   // copy on write: records share the arrays
        m.outcome = m.outcome ? m.outcome.slice() : new Uint8Array(this.guest.pages);
        m.left = m.left ? m.left.slice() : new Int32Array(this.hosts[m.src].frames).fill(-1);
        m.owned = true;
      }
      ({ outcome, left } = m);
    }
    const mfns = light ? null : unpackInts(d.mfns);
    const rawHere = m.normalised.size ? new Uint8Array(this.guest.pages) : null;
    let i = 0;
    for (const [action, count] of segments(d.actions)) {
      const end = i + count;
      const code = OUTCOME[action];
      if (action === "raw" || action === "normalised") round.sent += count;
      else round.xtab += count;
      if (action === "deferred") {
        round.deferred += count;
        // as ever_deferred: live rounds only
        if (!stopped) for (let k = i; k < end; k += 1) m.deferred.add(pfns[k]);
      }
      if (action === "normalised") {
        round.normalised += count;
        for (let k = i; k < end; k += 1) m.normalised.add(pfns[k]);
      }
      if (action === "raw" && rawHere) for (let k = i; k < end; k += 1) rawHere[pfns[k]] = 1;
      if (action === "lost") round.lost += count;
      if (!light) {
        for (let k = i; k < end; k += 1) {
          const pfn = pfns[k];
          outcome[pfn] = code;
          const mfn = mfns[k];
          if (mfn >= 0) {   // the layout the guest leaves behind
            if (left[mfn] < 0) m.leftSize += 1;
            left[mfn] = pfn;
          }
        }
      }
      i = end;
    }
    // Sent raw this round: no longer "last sent normalised" (no PFN twice in one round).
    if (rawHere) for (const pfn of [...m.normalised]) if (rawHere[pfn]) m.normalised.delete(pfn);
    m.lastBatch = d;
  }

  // XEN_DOMINF_paused (toolstack pause only) vs shut down with SHUTDOWN_suspend.
  get guestPaused() { return this.hosts[this.guest.host].paused; }
  get guestSuspended() { return this.hosts[this.guest.host].suspended; }
  get guestStopped() { return this.guestPaused || this.guestSuspended; }

  // Is this PFN one whose final contents the migration did not bring to `host`?
  isLost(host, pfn) {
    const m = this.migration;
    return pfn !== null && host === m.dst && m.state !== "failed" && m.lost.has(pfn);
  }

  countPopulated(host, olds) {
    const m = this.migration;
    if (m.state !== "in_progress" || host !== m.dst || !m.rounds.length) return;
    let n = 0;
    for (let i = 0; i < olds.length; i += 1) if (olds[i] < 0) n += 1;
    m.rounds[m.rounds.length - 1].populated += n;
  }
}

// Per-event records (the migration summary after each event) and checkpoints (full copies
// of the state every CHECKPOINT_EVERY events) over the whole session. Built once when the
// history is known (replaying it from the snapshot at seq 0); after that an event is
// applied once, by the store: while the store is live the index takes its record and
// checkpoint from the store's own state (`took`). Only while the page shows the past does
// the index follow a new event itself, on a summary of the state (`extend`: the migration
// notes, no frames); the checkpoint it cannot take then is taken when a seek passes it.
export class TimeIndex {
  constructor(state) {
    this.tip = new ModelState();   // the summary at the head: migration, host, cursor, stops
    Object.assign(this.tip, { meta: state.meta, script: state.script });
    this.seq = 0;
    this.records = [];
    this.checkpoints = new Map();
    this.took(0, state);
  }

  // The state `state` is at seq n (the next event's): record it, and keep a copy every
  // CHECKPOINT_EVERY events.
  took(n, state) {
    if (n !== this.seq + 1 && n !== 0) return false;
    this.seq = n;
    this.records[n] = state.record();
    this.follow(this.records[n]);
    if (n % CHECKPOINT_EVERY === 0) this.checkpoints.set(n, state.capture());
    return true;
  }

  // A new event while the store shows the past: the summary follows it on its own.
  extend(event) {
    if (event.seq !== this.seq + 1) return false;
    this.tip.advanceSummary(event);
    this.seq = event.seq;
    this.records[this.seq] = this.tip.record();
    return true;
  }

  follow(r) {
    const hosts = {};
    for (const [name, f] of Object.entries(r.stopped)) hosts[name] = { ...f };
    this.tip.setState({ types: null, hosts, migration: cloneMigration(r.migration),
                        cursor: r.cursor, guest: { host: r.host, pages: r.pages } });
  }

  // A seek passing seq n on `state`: keep the checkpoint that was not taken live.
  passing(n, state) {
    if (n % CHECKPOINT_EVERY === 0 && !this.checkpoints.has(n)) this.checkpoints.set(n, state.capture());
  }

  // The checkpoint nearest to `n` (either side) of those taken, as [seq, state].
  nearest(n) {
    let below = Math.floor(n / CHECKPOINT_EVERY) * CHECKPOINT_EVERY;
    while (!this.checkpoints.has(below)) below -= CHECKPOINT_EVERY;   // 0 is always there
    const above = Math.floor(n / CHECKPOINT_EVERY) * CHECKPOINT_EVERY + CHECKPOINT_EVERY;
    if (this.checkpoints.has(above) && above - n < n - below) return [above, this.checkpoints.get(above)];
    return [below, this.checkpoints.get(below)];
  }
}

export class Store extends ModelState {
  constructor() {
    super();
    this.sessionId = null;
    this.seq = 0;
    this.head = 0;
    this.log = [];      // log[seq - 1]: every event known, whether or not the state shows it
    this.index = null;  // TimeIndex once the whole history is known
    this.listeners = { load: [], event: [], extend: [], seek: [], history: [] };
  }

  on(name, fn) { this.listeners[name].push(fn); }
  emit(name, arg) { for (const fn of this.listeners[name]) fn(arg, this); }

  get loaded() { return this.sessionId !== null; }
  get live() { return this.seq === this.head; }

  load(sessionId, snap) {
    this.sessionId = sessionId;
    this.seq = snap.seq;
    this.head = snap.seq;
    this.log = [];
    this.index = null;
    this.meta = { name: snap.name, title: snap.title || snap.name,
                  description: snap.description || "", xen: snap.xen };
    this.links = { forkedFrom: snap.forked_from || null, forks: snap.forks || [] };
    this.script = snap.script || [];
    this.setState(stateOf(snap));
    this.emit("load");
  }

  // A newly pushed event; returns false (and changes nothing) unless it is the next one.
  // While the state shows the head it moves on with it; in the past only the log grows.
  apply(event) {
    if (!this.loaded || this.busy || event.seq !== this.head + 1) return false;
    const wasLive = this.live;
    if (wasLive) this.advance(event);   // once: the timeline takes its record from the result
    this.settle(event, wasLive);
    return true;
  }

  // The same for any event, but a large one (a migration of a large guest) is applied a
  // few deltas at a time, each slice its own task, so the page never freezes: resolves
  // once it is applied (true) or at once (false) as apply(). Meanwhile `busy` is set, the
  // state is part way and seeking waits; the caller holds back later events.
  async applySliced(event) {
    if (!this.loaded || this.busy || event.seq !== this.head + 1) return false;
    if (!this.live || itemsOf(event) < LARGE) return this.apply(event);
    this.busy = true;
    const hosts = this.hosts;
    try {
      let until = performance.now() + SLICE_MS;
      for (const d of event.deltas || []) {
        this.forward(d);
        if (performance.now() > until) {
          await new Promise((resolve) => setTimeout(resolve, 0));
          if (this.hosts !== hosts) return false;   // another snapshot was loaded meanwhile
          until = performance.now() + SLICE_MS;
        }
      }
      this.moveCursor(event);
    } finally {
      this.busy = false;
    }
    this.settle(event, true);
    return true;
  }

  settle(event, wasLive) {
    this.log[event.seq - 1] = event;
    this.head = event.seq;
    if (wasLive) {
      this.seq = event.seq;
      this.index?.took(event.seq, this);
      this.emit("event", event);
    } else {
      this.index?.extend(event);
      this.emit("extend", event);
    }
  }

  // The session's events up to the head (fetched after a load), and the snapshot at seq 0:
  // from them the timeline's index is built, so that any moment can be shown.
  setHistory(events, snap0) {
    for (const e of events) if (e.seq <= this.head) this.log[e.seq - 1] = e;
    if (snap0 && this.log.length >= this.head && !this.log.slice(0, this.head).includes(undefined)) {
      const replay = new ModelState();
      Object.assign(replay, { meta: this.meta, script: this.script });
      replay.setState(stateOf(snap0));
      const index = new TimeIndex(replay);
      for (const e of this.log) {
        replay.advance(e);
        index.took(e.seq, replay);
      }
      this.index = index;
      // The replay knows more than a snapshot says (how each page travelled): take it.
      const r = index.records[this.seq];
      if (r) this.migration = cloneMigration(r.migration);
    }
    this.emit("history", this.log);
  }

  // The migration summary after the first `upto` deltas of `event` (where its animation
  // is), rebuilt from the record before the event; null until the history is known.
  // Frames play in order: the summary at the last frame asked for is moved on from there.
  migrationAsOf(event, upto) {
    const before = this.index?.records[event.seq - 1];
    if (!before) return null;
    let asOf = this.asOf;
    if (!asOf || asOf.event !== event || asOf.upto > upto || asOf.before !== before) {
      const scratch = new ModelState();
      scratch.setState({ types: this.types, hosts: this.hosts, migration: cloneMigration(before.migration),
                         cursor: before.cursor, guest: { ...this.guest, host: before.host } });
      asOf = this.asOf = { event, before, upto: 0, scratch };
    }
    const { scratch } = asOf;
    for (const d of event.deltas.slice(asOf.upto, upto)) {
      if (d.kind === "migration") scratch.applyMigration(d, true);
      else if (d.kind === "p2m") scratch.countPopulated(d.host, [d.old]);
      else if (d.kind === "p2m_many") scratch.countPopulated(d.host, unpackInts(d.old));
    }
    asOf.upto = upto;
    return { migration: scratch.migration, host: scratch.guest.host,
             paused: Boolean(this.hosts[scratch.guest.host].paused),
             suspended: Boolean(this.hosts[scratch.guest.host].suspended) };
  }

  // Show the state as of seq `n` (0..head). Returns false while the history is loading
  // or a large event is being applied.
  seek(n) {
    if (!this.index || this.busy) return false;
    n = Math.max(0, Math.min(this.head, Math.round(n)));
    if (n === this.seq) return true;
    const [at, copy] = this.index.nearest(n);
    if (Math.abs(n - at) + CLONE_COST < Math.abs(n - this.seq)) {
      this.restore(copy);
      this.seq = at;
    }
    while (this.seq < n) {
      // The migration summary, host and cursor come from the record below: state only.
      for (const d of this.log[this.seq].deltas || []) if (d.kind !== "migration") applyDelta(this, d);
      this.seq += 1;
      this.index.passing(this.seq, this);
    }
    while (this.seq > n) { undoEvent(this, this.log[this.seq - 1]); this.seq -= 1; }
    const r = this.index.records[n];
    this.migration = cloneMigration(r.migration);
    this.guest.host = r.host;
    this.cursor = r.cursor;
    this.emit("seek", n);
    return true;
  }

  // ---- reading -------------------------------------------------------------------------
  frame(host, mfn) {
    const h = this.hosts[host];
    if (!h || mfn < 0 || mfn >= h.frames) return null;
    const flags = h.flags[mfn];
    const owner = h.owners[h.owner[mfn]];
    const pfn = owner === "guest" && h.m2p[mfn] >= 0 ? h.m2p[mfn] : null;
    return {
      host, mfn, pfn, owner, type: this.types[h.type[mfn]], count: h.count[mfn],
      type_count: h.type_count[mfn], allocated: Boolean(flags & FLAG.allocated),
      validated: Boolean(flags & FLAG.validated), pinned: Boolean(flags & FLAG.pinned),
      partial: Boolean(flags & FLAG.partial), partial_set: Boolean(flags & FLAG.partial_set),
      base: h.cr3 === mfn,
      dirty: pfn !== null && h.dirty.has(pfn), lost: this.isLost(host, pfn),
    };
  }

  // The frame behind a guest PFN on the host where the guest runs (null if ballooned out).
  guestFrame(pfn) {
    const h = this.hosts[this.guest.host];
    const mfn = h.p2m ? h.p2m[pfn] : -1;
    return mfn >= 0 ? this.frame(this.guest.host, mfn) : null;
  }

  hostNames() { return Object.keys(this.hosts); }
}
