// Script and sandbox agree: a step sent by hand while a script is loaded takes the state off
// the script (its next steps were written for another state). Say so, offer to re-sync
// (a new session of the same scenario with the script run up to where it was, without the
// hand-made steps), and mark the script steps that ran after it: their ticks were earned
// from a state the script did not make.
import { createSession, getEvents } from "./api.js";
import { el } from "./dom.js";
import { isScriptStep, opOf } from "./steps.js";

const OPERATIONS = new Set(["mmu_update", "mmuext", "write", "memory", "migrate"]);

export class ScriptSync {
  // currentFile(): the catalogue name of the loaded scenario, or null; open(id): load a session
  constructor(container, store, link, currentFile, open) {
    Object.assign(this, { store, link, currentFile, open });
    this.banner = el("div", { class: "off-script", "data-testid": "off-script", role: "status", hidden: true });
    container.prepend(this.banner);
    this.manual = 0;        // operations sent by hand
    this.offSteps = new Set();   // script indices run after the first hand-made step
    this.list = container.querySelector("[data-testid=script]");
    this.cursor = 0;
    store.on("load", () => this.loaded());
    store.on("event", (ev) => this.event(ev));
  }

  async loaded() {
    this.manual = 0;
    this.offSteps = new Set();
    this.cursor = this.store.cursor;
    const id = this.store.sessionId;
    if (this.store.seq && this.store.script.length) {
      const { events } = await getEvents(id, 0);
      if (id !== this.store.sessionId) return;
      let cursor = 0;
      for (const ev of events) {
        if (cursor < this.store.script.length &&
            isScriptStep(ev.step, this.store.script[cursor], this.store.meta.xen)) {
          if (this.manual) this.offSteps.add(cursor);
          cursor += 1;
        } else if (OPERATIONS.has(ev.op)) this.manual += 1;
      }
    }
    this.render();
  }

  event(ev) {
    const advanced = this.store.cursor > this.cursor;
    this.cursor = this.store.cursor;
    if (!advanced && this.store.script.length && OPERATIONS.has(ev.op)) this.manual += 1;
    if (advanced && this.manual) this.offSteps.add(this.store.cursor - 1);
    this.render();
  }

  get offScript() { return this.manual > 0 && this.store.script.length > 0; }

  async resync() {
    const file = this.currentFile();
    if (!file) return;
    const cursor = this.store.cursor;
    const created = await createSession({ scenario_file: file, xen: this.store.meta.xen });
    await this.open(created.id);
    if (cursor) await this.link.run(cursor);
  }

  render() {
    this.banner.hidden = !this.offScript;
    if (!this.offScript) return;
    const next = this.store.script[this.store.cursor];
    const resync = el("button", { type: "button", "data-testid": "resync", disabled: !this.currentFile(),
      title: this.currentFile() ? "A new session of this scenario, its script run to the same step, without the hand-made steps"
        : "This session's scenario is not in the catalogue" }, "Re-sync");
    resync.addEventListener("click", () => this.resync());
    this.banner.replaceChildren(
      el("p", {}, el("strong", {}, "Off the script: "),
         `${this.manual} step${this.manual === 1 ? "" : "s"} sent by hand changed the state the script ` +
         `was written for${next ? `; its next step (${opOf(next)}) may not do what it says` : ""}. ` +
         "Script steps run from here are marked ⚠."),
      el("div", { class: "buttons" }, resync));
    // The script panel re-renders its list on every event (before this listener runs).
    for (const li of this.list ? this.list.querySelectorAll("[data-testid=script-step]") : []) {
      const off = this.offSteps.has(Number(li.dataset.index));
      li.dataset.offScript = String(off);
      if (off && !li.querySelector(".off-mark")) {
        li.prepend(el("span", { class: "off-mark", title: "Run after steps sent by hand: not the state the script was written for" }, "⚠ "));
      }
    }
  }
}
