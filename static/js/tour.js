// Tour mode: a scenario with narration, one note at a time. The note's frames and entries
// are ringed (focus.js); at an `ask` step the tour stops until the student has chosen,
// then reveals what Xen did and why (docs/scenario-extensions.md).
import { el } from "./dom.js";
import { describeStep, opOf } from "./steps.js";

const OPERATIONS = ["mmu_update", "mmuext", "write", "memory", "migrate"];

export const isTour = (script) => script.some((s) => "ask" in s) ||
  script.filter((s) => opOf(s) === "note").length >= 3;

const choiceText = (c) => (Array.isArray(c) ? `[${c.join(", ")}]` : c === null ? "none" : String(c));

export class Tour {
  // run(count): the script panel's run
  constructor(container, store, run) {
    Object.assign(this, { store, run });
    this.root = el("section", { class: "tour", "data-testid": "tour", "aria-live": "polite",
                                "aria-label": "Tour narration", hidden: true });
    container.prepend(this.root);
    // The grid takes the room the narration leaves: lay it out again when that changes.
    new ResizeObserver(() => window.dispatchEvent(new Event("resize"))).observe(this.root);
    this.on = false;
    this.pending = null;   // {index, ask, chosen, seq}: a question asked, not yet revealed
    store.on("load", () => this.loaded());
    store.on("event", (ev) => this.event(ev));
  }

  loaded() {
    this.pending = null;
    // The last note the script has run (a page opened mid-tour), else the description.
    const ran = this.store.script.slice(0, this.store.cursor).filter((st) => st.note);
    this.narration = ran.length ? ran[ran.length - 1].note : this.store.meta.description || "";
    this.reveal = null;
    const params = new URL(window.location.href).searchParams;
    this.setOn(params.get("tour") === "1" || isTour(this.store.script));
  }

  setOn(on) {
    this.on = on;
    this.root.hidden = !on;
    document.body.classList.toggle("touring", on);
    this.render();
  }

  nextStep() { return this.store.script[this.store.cursor]; }

  // Called instead of running the script: a question must be answered first.
  guard() {
    if (!this.on) return true;
    const step = this.nextStep();
    if (step && "ask" in step && !this.pending) {
      this.root.querySelector("[data-testid=tour-choice]")?.focus();
      this.root.classList.remove("nudge");
      void this.root.offsetWidth;   // restart the nudge animation
      this.root.classList.add("nudge");
      return false;
    }
    return true;
  }

  async choose(n) {
    const step = this.nextStep();
    if (!step || !("ask" in step)) return;
    this.pending = { index: this.store.cursor, ask: step.ask, chosen: n, seq: null };
    this.render();
    await this.run(1);   // the ask step itself: a check question is answered by it
  }

  event(ev) {
    if (ev.note && !ev.failure) this.narration = ev.note;
    const p = this.pending;
    if (p && ev.op === "ask" && p.seq === null) {
      p.seq = ev.seq;
      if (p.ask.about !== "rc") this.showReveal(p, ev.assertions.find((a) => a.what.startsWith("ask: ") &&
                                                                        a.what !== "ask: only the answer holds"));
    } else if (p && ev.answers !== undefined && ev.answers === p.seq) {
      this.showReveal(p, ev.assertions.find((a) => a.what === "ask: rc"), ev);
    } else if (ev.op !== "ask" && OPERATIONS.includes(ev.op) && !p) {
      this.reveal = null;
    }
    this.render();
  }

  showReveal(p, assertion, answeredBy = null) {
    const key = p.ask.answer !== null && typeof p.ask.answer === "object"
      ? p.ask.answer[this.store.meta.xen] : p.ask.answer;   // a {patched, unpatched} pair
    const right = p.chosen === key;
    this.reveal = { question: p.ask.question, chosen: choiceText(p.ask.choices[p.chosen]), right,
                    actual: assertion ? choiceText(assertion.actual) : "?", why: p.ask.why || "",
                    message: answeredBy && answeredBy.message };
    this.pending = null;
  }

  render() {
    if (!this.on) return;
    const s = this.store;
    const step = this.nextStep();
    const parts = [el("p", { class: "tour-progress" }, `Tour · ${Math.min(s.cursor, s.script.length)} of ${s.script.length} steps run`),
                   el("p", { class: "tour-note", "data-testid": "tour-note" }, this.narration)];
    if (this.reveal) {
      const r = this.reveal;
      parts.push(el("div", { class: `tour-reveal ${r.right ? "right" : "wrong"}`, "data-testid": "tour-reveal",
                             "data-right": String(r.right) },
        el("p", {}, el("strong", {}, r.right ? "Right. " : "Not quite. "),
           `You said ${r.chosen}; Xen: ${r.actual}.`),
        r.why ? el("p", { class: "why" }, r.why) : null,
        r.message ? el("p", { class: "message" }, r.message) : null));
    }
    const p = this.pending;
    if (p && p.seq !== null) {
      parts.push(el("p", { class: "tour-wait", "data-testid": "tour-wait" },
        `Your prediction: ${choiceText(p.ask.choices[p.chosen])}. Next step shows what Xen does.`));
    } else if (step && "ask" in step && !p) {
      const a = step.ask;
      parts.push(el("div", { class: "tour-ask", "data-testid": "tour-ask", role: "group", "aria-label": "Question" },
        el("p", { class: "question" }, el("strong", {}, "Predict: "), a.question),
        el("div", { class: "choices" }, ...a.choices.map((c, n) => {
          const b = el("button", { type: "button", "data-testid": "tour-choice", "data-choice": String(n) },
                       `${String.fromCharCode(65 + n)}. ${choiceText(c)}`);
          b.addEventListener("click", () => this.choose(n));
          return b;
        }))));
    } else if (step && !this.reveal) {
      parts.push(el("p", { class: "tour-next" }, "Next: ", describeStep(step)));
    } else if (!step) {
      parts.push(el("p", { class: "tour-next" }, "End of the tour."));
    }
    this.root.replaceChildren(...parts);
  }
}
