// The client's copy of one session: loaded from a snapshot, then advanced event by event
// by applying each event's deltas (docs/engine-api.md). `seq` is the last applied event.
import { FLAG, applyDelta, unpack } from "./deltas.js";
import { isScriptStep } from "./steps.js";

function emptyMigration() {
  return { state: "not_started", phase: null, src: null, dst: null, rounds: [],
           deferred: new Set(), normalised: new Set(), error: null, lastBatch: null,
           toolstack: null, lost: new Map() };   // lost: pfn -> {kept_round}
}

export class Store {
  constructor() {
    this.sessionId = null;
    this.seq = 0;
    this.listeners = { load: [], event: [] };
  }

  on(name, fn) { this.listeners[name].push(fn); }
  emit(name, arg) { for (const fn of this.listeners[name]) fn(arg, this); }

  get loaded() { return this.sessionId !== null; }

  load(sessionId, snap) {
    this.sessionId = sessionId;
    this.seq = snap.seq;
    this.meta = { name: snap.name, title: snap.title || snap.name,
                  description: snap.description || "", xen: snap.xen };
    this.types = snap.types;
    this.guest = { pages: snap.guest.pages, layout: snap.guest.layout, host: snap.guest.host };
    this.hosts = {};
    for (const [name, h] of Object.entries(snap.hosts)) {
      this.hosts[name] = {
        frames: h.frames, owners: [...h.owners], owner: h.owner.slice(), count: h.count.slice(),
        type: h.type.slice(), type_count: h.type_count.slice(), flags: h.flags.slice(),
        m2p: h.m2p.slice(), cr3: h.cr3, log_dirty: h.log_dirty, dirty: new Set(h.dirty),
        // A host without the guest has no P2M yet; created on its first p2m delta.
        p2m: h.p2m ? h.p2m.slice() : null,
        paused: name === snap.guest.host && snap.guest.paused,
        suspended: name === snap.guest.host && Boolean(snap.guest.suspended),
      };
    }
    if (!this.hosts[this.guest.host].p2m) this.hosts[this.guest.host].p2m = snap.guest.p2m.slice();
    const m = snap.migration || {};
    this.migration = Object.assign(emptyMigration(), {
      state: m.state || "not_started", phase: m.phase ?? null, src: m.src ?? null,
      dst: m.dst ?? null, rounds: (m.rounds || []).map((r) => ({ ...r })),
      deferred: new Set(m.deferred || []), normalised: new Set(m.normalised || []),
      error: m.error ?? null, toolstack: m.toolstack ?? null,
      lost: new Map((m.lost_detail || []).map((l) => [l.pfn, { kept_round: l.kept_round }])),
    });
    this.script = snap.script || [];
    this.cursor = snap.cursor || 0;
    this.emit("load");
  }

  // Apply one event; returns false (and changes nothing) unless it is the next one.
  apply(event) {
    if (!this.loaded || event.seq !== this.seq + 1) return false;
    for (const d of event.deltas || []) this.applyDelta(d);
    if (this.cursor < this.script.length &&
        isScriptStep(event.step, this.script[this.cursor], this.meta.xen)) {
      this.cursor += 1;
    }
    this.seq = event.seq;
    this.emit("event", event);
    return true;
  }

  applyDelta(d) {
    if (d.kind === "migration") { this.applyMigration(d); return; }
    applyDelta(this, d);   // static/js/deltas.js: also undoDelta() for going back
    if (d.kind === "p2m") this.countPopulated(d.host, [d.old]);
    if (d.kind === "p2m_many") this.countPopulated(d.host, unpack(d.old));
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
        });
        m.lastBatch = d;
        break;
      }
      case "localise": round.localised += unpack(d.pfns).length; break;
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
