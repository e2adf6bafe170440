// The history list: every event of the session, with its rc and assertion results. It also
// feeds the intent tracker, which needs the whole history, not only what this tab saw.
import { resultText } from "./console.js";
import { deltaText } from "./deltas.js";
import { fnLink } from "./codelinks.js";
import { el, scrollWithin } from "./dom.js";
import { describeStep } from "./steps.js";

// fail: an assertion does not hold; error: a hypercall failed that nobody expected to.
// An error the step's `expect` asked for is a success.
const MAX_DELTA_LINES = 200;
const WHOLE = 300;    // a history up to this long is listed whole; a longer one, a window:
const WINDOW = 12;    // events listed each side of the moment shown
const MARGIN = 5;     // re-centre the list when the moment comes this close to its edge

export function eventOutcome(event) {
  if (event.assertions.some((a) => !a.ok)) return "fail";
  if (event.assertions.length) return "ok";
  return event.result === "error" || event.result === "failed" ? "error" : "ok";
}

export class History {
  // onReload(events): the session's earlier events, once fetched after a load;
  // onPick(seq): an event's number was clicked (the timeline goes there)
  constructor(list, store, intent, onReload, onPick = () => {}) {
    Object.assign(this, { list, store, intent, onReload, onPick });
    this.events = new Map();
    this.sorted = [];
    store.on("load", () => this.reload());
    store.on("history", (events) => {
      this.add(events.filter(Boolean));
      this.onReload(events.filter(Boolean));
    });
    store.on("event", (ev) => this.add([ev]));
    store.on("extend", (ev) => this.add([ev]));
    store.on("seek", () => this.mark());
  }

  reload() {
    this.events.clear();
    this.sorted = [];
    this.window = null;
    this.list.replaceChildren();
    this.intent.reset();
    if (this.store.seq === 0) {
      this.list.append(el("li", { class: "hint" },
        "No steps yet: run the scenario (Next step, n) or send a hypercall from the console."));
    }
  }

  // Only the events around the moment shown are in the list (WINDOW each side): a session
  // of thousands of events would make every seek re-lay out thousands of items.
  render() {
    const all = this.sorted;
    const seq = this.store.seq;
    // events are held in seq order, usually exactly 1..head: look there first
    let c = all[seq - 1]?.seq === seq ? seq - 1 : all.findIndex((e) => e.seq >= seq);
    if (c < 0) c = all.length - 1;
    const whole = all.length <= WHOLE;
    const lo = whole ? 0 : Math.max(0, c - WINDOW);
    const hi = whole ? all.length : Math.min(all.length, c + WINDOW + 1);
    const items = all.slice(lo, hi).map((e) => this.item(e));
    if (lo > 0) {
      items.unshift(el("li", { class: "hint" }, `… ${lo} earlier events: go back on the timeline to list them`));
    }
    if (hi < all.length) {
      items.push(el("li", { class: "hint" }, `… ${all.length - hi} later events`));
    }
    this.list.replaceChildren(...items);
    this.window = all.length ? [all[lo].seq, all[hi - 1].seq, lo > 0, hi < all.length] : null;
    this.mark(false);
  }

  // Events after the moment shown are greyed; the one that led to it is outlined.
  mark(rerender = true) {
    const seq = this.store.seq;
    const w = this.window;
    const inside = w && (seq >= w[0] + MARGIN || !w[2]) && (seq <= w[1] - MARGIN || !w[3]);
    if (rerender && w && !inside) {
      this.render();
      return;
    }
    let viewed = null;
    for (const li of this.list.children) {
      const n = Number(li.dataset.seq);
      if (!n) continue;
      li.classList.toggle("future", n > seq);
      li.classList.toggle("viewed", n === seq);
      if (n === seq) viewed = li;
    }
    if (this.store.live) scrollWithin(this.list, this.list.lastElementChild);
    else scrollWithin(this.list, viewed || this.list.firstElementChild);
  }

  // The event an animation is playing ({seq, n, of}: its group n of `of`), or null: its
  // line says so, since the panels show the state part way through it.
  showPlaying(playing) {
    this.playing = playing;
    for (const li of this.list.querySelectorAll("li.playing")) {
      li.classList.remove("playing");
      delete li.dataset.playing;
    }
    if (!playing) return;
    const li = this.list.querySelector(`li[data-seq="${playing.seq}"]`);
    if (!li) return;
    li.classList.add("playing");
    li.dataset.playing = `${playing.n}/${playing.of}`;
    scrollWithin(this.list, li);
  }

  add(events) {
    const fresh = events.filter((e) => !this.events.has(e.seq));
    if (!fresh.length) return;
    for (const e of fresh) this.events.set(e.seq, e);
    const last = this.sorted.length ? this.sorted[this.sorted.length - 1].seq : 0;
    if (fresh.every((e) => e.seq > last)) {   // the usual case: new events at the end
      this.sorted.push(...fresh.sort((a, b) => a.seq - b.seq));
      for (const e of fresh) this.intent.record(e);
    } else {
      this.sorted = [...this.events.values()].sort((a, b) => a.seq - b.seq);
      this.intent.reset();
      for (const e of this.sorted) this.intent.record(e);
    }
    this.render();   // (drops the hint too)
  }

  // One line per event; opening it lists the event's deltas with the Xen function of each.
  item(event) {
    const outcome = eventOutcome(event);
    const checks = event.assertions.map((a) =>
      el("span", { class: a.ok ? "pass" : "fail", title: `${a.what}: expected ${JSON.stringify(a.expected)}, got ${JSON.stringify(a.actual)}` },
         a.ok ? "✓" : "✗"));
    const seqLink = el("span", { class: "seq", title: "Show the state after this event" }, `#${event.seq}`);
    seqLink.addEventListener("click", (e) => { e.preventDefault(); this.onPick(event.seq); });
    const summary = el("summary", {},
      seqLink,
      el("span", { class: "what" }, describeStep(event.step)),
      el("span", { class: "rc" }, resultText(event)),
      ...checks,
      // Why it failed, always in view: the Xen function, the entry, the rule.
      event.message ? el("span", { class: "why", "data-testid": "history-message" }, event.message) : null);
    const details = el("details", {}, summary);
    details.addEventListener("toggle", () => {
      if (!details.open || details.querySelector("ol")) return;
      const lines = event.deltas.slice(0, MAX_DELTA_LINES).map((d) =>
        el("li", {}, d.fn ? fnLink(d.fn) : el("code", {}, d.kind), " ", deltaText(d)));
      if (event.deltas.length > MAX_DELTA_LINES) {
        lines.push(el("li", {}, `… ${event.deltas.length - MAX_DELTA_LINES} more`));
      }
      if (event.message) {
        lines.unshift(el("li", { class: "message" }, event.failure ? fnLink(event.failure.fn) : "", " ", event.message));
      }
      details.append(lines.length ? el("ol", { class: "deltas" }, ...lines)
                                  : el("p", { class: "hint" }, "No state changed."));
    });
    return el("li", { class: outcome, "data-testid": "history-item", "data-seq": String(event.seq),
                      "data-rc": String(event.rc) }, details);
  }
}
