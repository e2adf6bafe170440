// The client's copy of one session: loaded from a snapshot, then advanced event by event
// by applying each event's deltas (docs/deltas.md). `head` is the last event known, `seq`
// the moment the state shows: the same while live; earlier after a seek (timeline.js),
// reached from a stored checkpoint plus deltas applied forward or undone backward.
import { FLAG, applyDelta, undoDelta, unpack } from "./deltas.js";
import { isScriptStep } from "./steps.js";

export const CHECKPOINT_EVERY = 64;   // a full copy of the state every this many events
const CLONE_COST = 8;                 // restoring a checkpoint costs about as much as 8 events

// lost: pfn -> {kept_round}; for the badges and the ghost after a migration: outcome:
// PFN -> how it last travelled (raw, normalised, deferred, xtab, lost); localised: the
// PFNs the restore side localised; left: source MFN -> the PFN it held.
function emptyMigration() {
  return { state: "not_started", phase: null, src: null, dst: null, rounds: [],
           deferred: new Set(), normalised: new Set(), error: null, lastBatch: null,
           toolstack: null, lost: new Map(), outcome: new Map(), localised: new Set(),
           left: new Map() };
}

function cloneMigration(m) {
  return { ...m, rounds: m.rounds.map((r) => ({ ...r })), deferred: new Set(m.deferred),
           normalised: new Set(m.normalised), lost: new Map(m.lost), outcome: new Map(m.outcome),
           localised: new Set(m.localised), left: new Map(m.left) };
}

// Whole events: forward in order, backward last delta first (deltas.js does one delta).
function undoEvent(state, event) {
  const ds = event.deltas || [];
  for (let i = ds.length - 1; i >= 0; i -= 1) undoDelta(state, ds[i]);
}

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
      frames: h.frames, owners: [...h.owners], owner: h.owner.slice(), count: h.count.slice(),
      type: h.type.slice(), type_count: h.type_count.slice(), flags: h.flags.slice(),
      m2p: h.m2p.slice(), cr3: h.cr3, log_dirty: h.log_dirty, dirty: new Set(h.dirty),
      // A host without the guest has no P2M yet; created on its first p2m delta.
      p2m: h.p2m ? h.p2m.slice() : null,
      paused: name === snap.guest.host && snap.guest.paused,
      suspended: name === snap.guest.host && Boolean(snap.guest.suspended),
    };
  }
  if (!hosts[snap.guest.host].p2m) hosts[snap.guest.host].p2m = snap.guest.p2m.slice();
  const m = snap.migration || {};
  const migration = Object.assign(emptyMigration(), {
    state: m.state || "not_started", phase: m.phase ?? null, src: m.src ?? null,
    dst: m.dst ?? null, rounds: (m.rounds || []).map((r) => ({ ...r })),
    deferred: new Set(m.deferred || []), normalised: new Set(m.normalised || []),
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
    return { migration: cloneMigration(this.migration), host: this.guest.host, cursor: this.cursor };
  }

  // One delta forward: the state (deltas.js), and the derived migration summary.
  forward(d) {
    if (d.kind === "migration") { this.applyMigration(d); return; }
    applyDelta(this, d);
    if (d.kind === "p2m") this.countPopulated(d.host, [d.old]);
    if (d.kind === "p2m_many") this.countPopulated(d.host, unpack(d.old));
  }

  advance(event) {
    for (const d of event.deltas || []) this.forward(d);
    if (this.cursor < this.script.length &&
        isScriptStep(event.step, this.script[this.cursor], this.meta.xen)) {
      this.cursor += 1;
    }
  }

  // Round statistics are not sent as deltas; they are rebuilt from the migration notes
  // exactly as libxenguest's counters are incremented (engine/migration.py RoundStats).
  applyMigration(d) {
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
      case "batch": {
        const pfns = unpack(d.pfns);
        const mfns = unpack(d.mfns);
        unpack(d.actions).forEach((action, i) => {
          const pfn = pfns[i];
          if (action === "raw" || action === "normalised") round.sent += 1;
          else round.xtab += 1;
          if (action === "deferred") {
            round.deferred += 1;
            if (!this.guestStopped) m.deferred.add(pfn);  // as ever_deferred: live rounds only
          }
          if (action === "normalised") { round.normalised += 1; m.normalised.add(pfn); }
          if (action === "raw") m.normalised.delete(pfn);
          if (action === "lost") round.lost += 1;
          m.outcome.set(pfn, action);
          if (mfns[i] >= 0) m.left.set(mfns[i], pfn);   // the layout the guest leaves behind
        });
        m.lastBatch = d;
        break;
      }
      case "localise":
        for (const pfn of unpack(d.pfns)) m.localised.add(pfn);
        round.localised += unpack(d.pfns).length;
        break;
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
    m.rounds[m.rounds.length - 1].populated += olds.filter((v) => v < 0).length;
  }
}

// Checkpoints and per-event records over the whole session, built by replaying every
// event forward once from the snapshot at seq 0 (its own copy, the "tip", stays at head).
export class TimeIndex {
  constructor(snap0, meta, script) {
    this.tip = new ModelState();
    Object.assign(this.tip, { meta, script });
    this.tip.setState(stateOf(snap0));
    this.seq = 0;
    this.records = [this.tip.record()];
    this.checkpoints = new Map([[0, this.tip.capture()]]);
  }

  extend(event) {
    if (event.seq !== this.seq + 1) return false;
    this.tip.advance(event);
    this.seq = event.seq;
    this.records[this.seq] = this.tip.record();
    if (this.seq % CHECKPOINT_EVERY === 0) this.checkpoints.set(this.seq, this.tip.capture());
    return true;
  }

  // The checkpoint nearest to `n` (either side), as [seq, state].
  nearest(n) {
    const below = Math.floor(n / CHECKPOINT_EVERY) * CHECKPOINT_EVERY;
    const above = below + CHECKPOINT_EVERY;
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
    if (!this.loaded || event.seq !== this.head + 1) return false;
    const wasLive = this.live;
    this.log[event.seq - 1] = event;
    this.head = event.seq;
    this.index?.extend(event);
    if (wasLive) {
      this.advance(event);
      this.seq = event.seq;
      this.emit("event", event);
    } else {
      this.emit("extend", event);
    }
    return true;
  }

  // The session's events up to the head (fetched after a load), and the snapshot at seq 0:
  // from them the timeline's index is built, so that any moment can be shown.
  setHistory(events, snap0) {
    for (const e of events) if (e.seq <= this.head) this.log[e.seq - 1] = e;
    if (snap0 && this.log.length >= this.head && !this.log.slice(0, this.head).includes(undefined)) {
      const index = new TimeIndex(snap0, this.meta, this.script);
      for (const e of this.log) index.extend(e);
      this.index = index;
      // The replay knows more than a snapshot says (how each page travelled): take it.
      const r = index.records[this.seq];
      if (r) this.migration = cloneMigration(r.migration);
    }
    this.emit("history", this.log);
  }

  // The migration summary after the first `upto` deltas of `event` (where its animation
  // is), rebuilt from the record before the event; null until the history is known.
  migrationAsOf(event, upto) {
    const before = this.index?.records[event.seq - 1];
    if (!before) return null;
    const scratch = new ModelState();
    scratch.setState({ types: this.types, hosts: this.hosts, migration: cloneMigration(before.migration),
                       cursor: before.cursor, guest: { ...this.guest, host: before.host } });
    for (const d of event.deltas.slice(0, upto)) {
      if (d.kind === "migration") scratch.applyMigration(d);
      else if (d.kind === "p2m") scratch.countPopulated(d.host, [d.old]);
      else if (d.kind === "p2m_many") scratch.countPopulated(d.host, unpack(d.old));
    }
    return { migration: scratch.migration, host: scratch.guest.host,
             paused: Boolean(this.hosts[scratch.guest.host].paused),
             suspended: Boolean(this.hosts[scratch.guest.host].suspended) };
  }

  // Show the state as of seq `n` (0..head). Returns false while the history is loading.
  seek(n) {
    if (!this.index) return false;
    n = Math.max(0, Math.min(this.head, Math.round(n)));
    if (n === this.seq) return true;
    const [at, copy] = this.index.nearest(n);
    if (Math.abs(n - at) + CLONE_COST < Math.abs(n - this.seq)) {
      this.restore(copy);
      this.seq = at;
    }
    while (this.seq < n) {
      for (const d of this.log[this.seq].deltas || []) this.forward(d);
      this.seq += 1;
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
