// The Socket.IO link to one session: join (snapshot, or catch-up from the last applied
// seq after a reconnect), ordered application of pushed events, and the step/run calls.
// Ordering rules are those of docs/protocol.md: apply an event only if it is head + 1 (the
// store may show an earlier moment, but it holds every event up to its head). A large event
// comes as a stub (`lazy`): its body is fetched over REST, and the events after it wait.
import { getEvent } from "./api.js";

const ACK_TIMEOUT_MS = 15000;

export class SessionLink {
  constructor(store, onStatus) {
    this.store = store;
    this.onStatus = onStatus;
    this.sessionId = null;
    this.pending = new Map();   // seq -> event that arrived ahead of the state we hold
    this.bodies = new Map();    // seq -> promise of the whole event behind a stub
    this.joining = null;
    this.socket = window.io({ transports: ["websocket", "polling"] });
    this.socket.on("connect", () => {
      this.onStatus("connected");
      // After a reconnect the rooms are gone: join again, catching up from our seq. (A
      // first join still waiting for the connection goes ahead by itself.)
      if (this.sessionId && this.store.sessionId === this.sessionId) {
        this.join(this.sessionId).catch((e) => this.onStatus("error", e));
      }
    });
    this.socket.on("disconnect", () => this.onStatus("disconnected"));
    this.socket.on("connect_error", () => this.onStatus("disconnected"));
    this.socket.on("event", (ev) => this.receive(ev));
  }

  async call(name, payload) {
    // Socket.IO would buffer the message until a reconnect; a lecturer should know now.
    if (!this.socket.connected) throw new Error("offline: not sent (reconnecting…)");
    const ack = await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(name, payload);
    if (!ack.ok) {
      const err = new Error(ack.error?.message || `${name} refused`);
      err.field = ack.error?.field ?? null;
      throw err;
    }
    return ack;
  }

  // Join `sessionId`. With state for it already in the store, ask only for the events
  // after our seq; otherwise (or if the server refuses `since`) load a snapshot.
  async join(sessionId) {
    if (this.sessionId && this.sessionId !== sessionId && this.socket.connected) {
      // Events carry no session id: once `leave` is acknowledged, none of the old
      // session's can still arrive (a client's messages are handled in order).
      await this.call("leave", { session: this.sessionId }).catch(() => {});
    }
    if (this.sessionId !== sessionId) { this.pending.clear(); this.bodies.clear(); }
    this.sessionId = sessionId;
    if (!this.socket.connected) {
      if (this.store.sessionId === sessionId) return null;   // the connect handler catches up
      await new Promise((resolve) => this.socket.once("connect", resolve));
      if (this.sessionId !== sessionId) return null;         // superseded meanwhile
    }
    const catchUp = this.store.sessionId === sessionId && this.store.head > 0;
    const joining = (async () => {
      let ack;
      try {
        ack = await this.call("join", catchUp ? { session: sessionId, since: this.store.head }
                                              : { session: sessionId, packed: true });
      } catch (err) {
        if (!catchUp || err.field !== "since") throw err;
        ack = await this.call("join", { session: sessionId, packed: true });
      }
      if (this.sessionId !== sessionId) return ack;   // superseded by a later join
      if (ack.snapshot) this.store.load(sessionId, ack.snapshot);
      for (const ev of ack.events || []) if (ev.seq > this.store.head) this.pending.set(ev.seq, ev);
      this.flush();
      return ack;
    })();
    this.joining = joining;
    try {
      return await joining;
    } finally {
      if (this.joining === joining) {
        this.joining = null;
        this.flush();   // events that arrived while the ack was on its way
        // The ack brought everything up to its seq and later events follow it in order,
        // so whatever is still waiting can never be applied (unless it waits behind a
        // large event whose body is on its way).
        if (!this.waiting) this.pending.clear();
      }
    }
  }

  receive(ev) {
    if (this.store.sessionId !== this.sessionId || this.joining) {
      this.pending.set(ev.seq, ev);   // before the join ack: keep until the state is there
      return;
    }
    if (ev.seq <= this.store.head) return;
    this.pending.set(ev.seq, ev);
    this.flush();
    if (this.pending.size && !this.waiting) {
      // A gap: something was missed. Catch up from what we hold.
      this.join(this.sessionId).catch((e) => this.onStatus("error", e));
    }
  }

  flush() {
    for (const seq of [...this.pending.keys()]) if (seq <= this.store.head) this.pending.delete(seq);
    let next;
    while (!this.applying && (next = this.pending.get(this.store.head + 1))) {
      if (next.lazy) { this.fetchBody(next); return; }
      this.pending.delete(next.seq);
      // A large event is applied in slices (store.js): the next ones wait for it.
      const applying = this.store.applySliced(next);
      this.applying = applying;
      applying.then(() => {
        if (this.applying === applying) this.applying = null;
      }, (err) => {
        if (this.applying === applying) this.applying = null;
        this.onStatus("error", err);
      }).then(() => this.flush());
      if (this.store.head < next.seq) return;   // under way: flush() again when it is done
      this.applying = null;
    }
  }

  // Still to be applied in order: the event under way, then any waiting for a body.
  get waiting() {
    return Boolean(this.applying) || Boolean(this.pending.get(this.store.head + 1)?.lazy);
  }

  // The whole event behind a stub (docs/protocol.md: GET .../events/<seq>).
  body(stub) {
    if (!this.bodies.has(stub.seq)) {
      const id = this.sessionId;
      this.bodies.set(stub.seq, getEvent(id, stub).catch((err) => {
        if (this.sessionId === id) this.bodies.delete(stub.seq);   // try again on the next push
        throw err;
      }));
    }
    return this.bodies.get(stub.seq);
  }

  fetchBody(stub) {
    const id = this.sessionId;
    this.body(stub).then((full) => {
      this.bodies.delete(stub.seq);
      if (this.sessionId !== id || this.pending.get(stub.seq) !== stub) return;
      this.pending.set(stub.seq, full);
      this.flush();
    }, (err) => this.onStatus("error", err));
  }

  // A step from the console: resolves to the event (already applied to the store).
  // beforeChange (set by the page) forks first when the page shows the past.
  async step(step) {
    await this.beforeChange?.();
    const ack = await this.call("step", { session: this.sessionId, step });
    const whole = ack.event.lazy ? this.body(ack.event) : null;
    this.receive(ack.event);
    return whole ? await whole : ack.event;
  }

  async run(count) {
    await this.beforeChange?.();
    const ack = await this.call("run", { session: this.sessionId, count });
    for (const ev of ack.events) this.receive(ev);
    return ack.events;
  }

  // A new session from this one as of `seq` (under another Xen variant if `xen`):
  // {id, seq, snapshot}.
  fork(seq, xen = null) {
    return this.call("fork", { session: this.sessionId, seq, ...(xen ? { xen } : {}) });
  }

  disconnect() { this.socket.disconnect(); }
  connect() { this.socket.connect(); }
}
