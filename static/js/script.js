// The scenario menu, the loaded scenario's script with the cursor and the inline results of
// each step, and the patched/unpatched switch (a new session of the same scenario).
import { createSession, listScenarios } from "./api.js";
import { el } from "./dom.js";
import { eventOutcome } from "./history.js";
import { describeStep, expectText, isScriptStep } from "./steps.js";

function assertionText(a) {
  const show = (v) => (typeof v === "string" ? v : JSON.stringify(v));
  return `${a.ok ? "✓" : "✗"} ${a.what}: expected ${show(a.expected)}, got ${show(a.actual)}`;
}

export class ScriptPanel {
  // openSession(id): switch the page to another session
  constructor(root, header, store, link, openSession) {
    Object.assign(this, { root, header, store, link, openSession });
    this.catalogue = [];
    this.results = new Map();   // script index -> event that ran it
    this.select = header.querySelector("[data-testid=scenario-select]");
    this.list = root.querySelector("[data-testid=script]");
    this.nextButton = root.querySelector("[data-testid=script-next]");
    this.allButton = root.querySelector("[data-testid=script-all]");
    header.querySelector("[data-testid=scenario-form]").addEventListener("submit", (e) => {
      e.preventDefault();
      this.start(this.select.value, null);
    });
    for (const radio of header.querySelectorAll("input[name=xen]")) {
      radio.addEventListener("change", () => this.switchVariant(radio.value));
    }
    this.nextButton.addEventListener("click", () => this.run(1));
    this.allButton.addEventListener("click", () => this.run("all"));
    root.querySelector("[data-testid=script-restart]").addEventListener("click", () => {
      const file = this.currentFile();
      if (file) this.start(file, this.store.meta.xen);
    });
    store.on("load", () => { this.results.clear(); this.render(); });
    store.on("event", (ev, s) => this.advanced(ev, s));
  }

  async loadCatalogue() {
    this.catalogue = await listScenarios();
    const groups = new Map();
    for (const s of this.catalogue) {
      if (!groups.has(s.source)) groups.set(s.source, el("optgroup", { label: `${s.source} scenarios` }));
      groups.get(s.source).append(el("option", { value: s.name, title: s.description || "" }, s.title || s.name));
    }
    this.select.replaceChildren(...groups.values());
    return this.catalogue;
  }

  // Catalogue entry the loaded session came from (its scenario name matches a file name).
  currentFile() {
    return this.store.loaded && this.catalogue.some((s) => s.name === this.store.meta.name)
      ? this.store.meta.name : null;
  }

  async start(name, xen) {
    let created;
    try {
      created = await createSession({ scenario_file: name, ...(xen ? { xen } : {}) });
    } catch (err) {
      this.showError(`Could not start ${name}: ${err.message}`);
      return;
    }
    await this.openSession(created.id);
  }

  showError(text) {
    const progress = this.root.querySelector("[data-testid=script-progress]");
    progress.textContent = text;
    progress.dataset.kind = "error";
  }

  async switchVariant(xen) {
    const file = this.currentFile();
    if (!file || xen === this.store.meta.xen) return;
    await this.start(file, xen);
  }

  async run(count) {
    this.setBusy(true);
    try {
      await this.link.run(count);
    } catch (err) {
      this.showError(`The server refused to run the script: ${err.message}`);
    } finally {
      this.setBusy(false);
    }
  }

  setBusy(busy) {
    const done = this.store.cursor >= this.store.script.length;
    this.nextButton.disabled = busy || done;
    this.allButton.disabled = busy || done;
  }

  // The session's earlier events (after a load): which of them ran which script step.
  replay(events) {
    let cursor = 0;
    for (const ev of events) {
      if (cursor < this.store.script.length &&
          isScriptStep(ev.step, this.store.script[cursor], this.store.meta.xen)) {
        this.results.set(cursor, ev);
        cursor += 1;
      }
    }
    this.render();
  }

  advanced(event, store) {
    const index = store.cursor - 1;
    if (index >= 0 && !this.results.has(index) && store.cursor > this.renderedCursor) {
      this.results.set(index, event);
    }
    this.render();
  }

  render() {
    const s = this.store;
    this.header.querySelector(`input[name=xen][value=${s.meta.xen}]`).checked = true;
    const file = this.currentFile();
    if (file) this.select.value = file;
    for (const radio of this.header.querySelectorAll("input[name=xen]")) radio.disabled = !file;
    this.header.querySelector("[data-testid=variant]").title = file
      ? "Switching starts a new session of this scenario under the other Xen"
      : "This session's scenario is not in the catalogue, so it cannot be restarted under the other Xen";
    this.root.querySelector("[data-testid=scenario-title]").textContent = s.meta.title;
    this.root.querySelector("[data-testid=scenario-description]").textContent = s.meta.description;
    const total = s.script.length;
    const progress = this.root.querySelector("[data-testid=script-progress]");
    delete progress.dataset.kind;
    progress.textContent = total
      ? `${Math.min(s.cursor, total)} of ${total} steps run` : "This session has no script: use the console.";
    this.list.replaceChildren(...s.script.map((step, i) => this.item(step, i)));
    const focus = this.list.querySelector(".current") || this.list.lastElementChild;
    focus?.scrollIntoView({ block: "nearest" });
    this.renderedCursor = s.cursor;
    this.setBusy(false);
  }

  item(step, i) {
    const ev = this.results.get(i);
    const state = i < this.store.cursor ? "done" : i === this.store.cursor ? "current" : "todo";
    const outcome = ev ? eventOutcome(ev) : "";
    const li = el("li", { class: `${state} ${outcome} ${"note" in step && Object.keys(step).length === 1 ? "narration" : ""}`,
                          "data-testid": "script-step", "data-index": String(i), "data-state": state,
                          "data-outcome": outcome },
      el("span", { class: "what" }, describeStep(step)),
      step.expect !== undefined ? el("span", { class: "expect" }, expectText(step.expect)) : null);
    if (step.note && Object.keys(step).length > 1) li.append(el("p", { class: "note" }, step.note));
    if (ev) {
      if (ev.op !== "check" && ev.op !== "note") {
        li.append(el("span", { class: "rc" }, ev.rc === 0 ? "rc 0" : `rc ${ev.rc} ${ev.errno || ""}`));
      }
      for (const a of ev.assertions) {
        li.append(el("p", { class: `assertion ${a.ok ? "pass" : "fail"}`, "data-testid": "assertion",
                            "data-ok": String(a.ok) }, assertionText(a)));
      }
      if (ev.message && ev.rc !== 0) li.append(el("p", { class: "message" }, ev.message));
    }
    return li;
  }
}
