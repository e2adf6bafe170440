// The history list: every event of the session, with its rc and assertion results. It also
// feeds the intent tracker, which needs the whole history, not only what this tab saw.
import { getEvents } from "./api.js";
import { resultText } from "./console.js";
import { deltaText } from "./deltas.js";
import { fnLink } from "./codelinks.js";
import { el } from "./dom.js";
import { describeStep } from "./steps.js";

// fail: an assertion does not hold; error: a hypercall failed that nobody expected to.
// An error the step's `expect` asked for is a success.
const MAX_DELTA_LINES = 200;

export function eventOutcome(event) {
  if (event.assertions.some((a) => !a.ok)) return "fail";
  if (event.assertions.length) return "ok";
  return event.result === "error" || event.result === "failed" ? "error" : "ok";
}

export class History {
  // onReload(events): the session's earlier events, once fetched after a load
  constructor(list, store, intent, onReload) {
    Object.assign(this, { list, store, intent, onReload });
    this.events = new Map();
    store.on("load", () => this.reload());
    store.on("event", (ev) => this.add([ev]));
  }

  async reload() {
    this.events.clear();
    this.list.replaceChildren();
    this.intent.reset();
    const sessionId = this.store.sessionId;
    if (this.store.seq === 0) {
      this.list.append(el("li", { class: "hint" },
        "No steps yet: run the scenario (Next step, n) or send a hypercall from the console."));
      return;
    }
    const { events } = await getEvents(sessionId, 0);
    if (this.store.sessionId !== sessionId) return;
    this.add(events);
    this.onReload(events);
  }

  add(events) {
    const fresh = events.filter((e) => !this.events.has(e.seq));
    if (!fresh.length) return;
    for (const e of fresh) this.events.set(e.seq, e);
    const all = [...this.events.values()].sort((a, b) => a.seq - b.seq);
    this.intent.reset();
    for (const e of all) this.intent.record(e);
    this.list.replaceChildren(...all.map((e) => this.item(e)));   // (drops the hint too)
    this.list.lastElementChild?.scrollIntoView({ block: "nearest" });
  }

  // One line per event; opening it lists the event's deltas with the Xen function of each.
  item(event) {
    const outcome = eventOutcome(event);
    const checks = event.assertions.map((a) =>
      el("span", { class: a.ok ? "pass" : "fail", title: `${a.what}: expected ${JSON.stringify(a.expected)}, got ${JSON.stringify(a.actual)}` },
         a.ok ? "✓" : "✗"));
    const summary = el("summary", {},
      el("span", { class: "seq" }, `#${event.seq}`),
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
