// The scenario menu, the loaded scenario's script with the cursor and the inline results of
// each step, and the patched/unpatched switch (a new session of the same scenario).
import { createSession, listScenarios } from "./api.js";
import { el, scrollWithin } from "./dom.js";
import { eventOutcome } from "./history.js";
import { describeStep, expectText, isScriptStep } from "./steps.js";

const WHOLE = 300;    // a script up to this long is listed whole; a longer one, a window:
const WINDOW = 12;    // steps listed each side of the cursor
const MARGIN = 5;     // re-centre the list when the cursor comes this close to its edge

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
      if (this.select.value) this.start(this.select.value, null);
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
    store.on("seek", () => this.renderMoved());
    this.seekTo = null;   // (seq) => show that moment; set by the page
    this.list.addEventListener("click", (e) => {
      const li = e.target.closest("li[data-seq]");
      if (li && this.seekTo) this.seekTo(Number(li.dataset.seq));
    });
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

  // The same history under the other variant, shown at the same moment.
  async switchVariant(xen) {
    const s = this.store;
    if (!s.loaded || xen === s.meta.xen) return;
    const at = s.live ? null : s.seq;
    try {
      const forked = await this.link.fork(s.head, xen);
      await this.openSession(forked.id, at);
    } catch (err) {
      this.showError(`Could not switch to ${xen}: ${err.message}`);
      this.render();
    }
  }

  async run(count) {
    // Looking at the past, the script's next steps have run already: play them forward.
    if (!this.store.live && this.seekTo) {
      this.seekTo(count === "all" ? this.store.head : this.store.seq + 1);
      return;
    }
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
    const done = this.store.cursor >= this.store.script.length && this.store.live;
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
    // The menu shows the session's scenario when a session is opened, and is left alone
    // after that (a render on an event or on the history arriving must not undo a pick).
    if (this.menuFor !== s.sessionId) {
      this.menuFor = s.sessionId;
      const file = this.currentFile();
      // A session not started from the catalogue (sandbox, import, fork of one, explore)
      // names itself in the menu rather than showing an unrelated first entry.
      this.select.querySelector("option[data-current]")?.remove();
      if (file) {
        this.select.value = file;
      } else {
        this.select.prepend(el("option", { value: "", disabled: true, "data-current": "" },
                               `This session: ${s.meta.title || s.meta.name}`));
        this.select.value = "";
      }
    }
    this.header.querySelector("[data-testid=variant]").title =
      "Switching replays this session's steps under the other Xen, in a new session, at the same moment";
    this.root.querySelector("[data-testid=scenario-title]").textContent = s.meta.title;
    this.root.querySelector("[data-testid=scenario-description]").textContent = s.meta.description;
    this.progress();
    // Only the steps around the cursor are listed (WINDOW each side): a script of thousands
    // would make every step and seek re-lay out thousands of items.
    const whole = s.script.length <= WHOLE;
    const lo = whole ? 0 : Math.max(0, s.cursor - WINDOW);
    const hi = whole ? s.script.length : Math.min(s.script.length, s.cursor + WINDOW + 1);
    const items = s.script.slice(lo, hi).map((step, i) => this.item(step, lo + i));
    if (lo > 0) items.unshift(el("li", { class: "hint", value: "0" }, `… ${lo} steps before`));
    if (hi < s.script.length) items.push(el("li", { class: "hint" }, `… ${s.script.length - hi} more steps`));
    this.list.replaceChildren(...items);
    this.window = [lo, hi];
    const focus = this.list.querySelector(".current") || this.list.lastElementChild;
    scrollWithin(this.list, focus);
    this.renderedCursor = s.cursor;
    this.setBusy(false);
  }

  // After a seek only the steps between the old and the new cursor change state; their
  // results stay in the list and are hidden (class "unrun") while not yet run at the
  // moment shown. Toggling classes keeps a seek cheap in a script of thousands of steps.
  renderMoved() {
    const s = this.store;
    const w = this.window;
    const inside = w && (s.cursor >= w[0] + MARGIN || w[0] === 0) &&
      (s.cursor <= w[1] - MARGIN || w[1] === s.script.length);
    if (this.renderedCursor === undefined || !inside) {
      this.render();
      return;
    }
    const lo = Math.max(w[0], Math.min(this.renderedCursor, s.cursor) - 1);
    const hi = Math.min(w[1] - 1, Math.max(this.renderedCursor, s.cursor) + 1);
    const first = this.list.querySelector("[data-testid=script-step]");
    for (let i = lo; i <= hi; i += 1) {
      const li = first && this.list.children[i - w[0] + (first === this.list.firstElementChild ? 0 : 1)];
      if (!li) continue;
      const state = i < s.cursor ? "done" : i === s.cursor ? "current" : "todo";
      if (li.dataset.state === state) continue;
      li.classList.remove("done", "current", "todo");
      li.classList.add(state);
      li.dataset.state = state;
      li.classList.toggle("unrun", state !== "done");
    }
    this.progress();
    scrollWithin(this.list, this.list.querySelector(".current") || this.list.lastElementChild);
    this.renderedCursor = s.cursor;
    this.setBusy(false);
  }

  // The event an animation is playing ({seq, upto}), or null: its step is marked, and for
  // a migration the phase or round being played.
  showPlaying(playing) {
    for (const node of this.list.querySelectorAll(".playing")) node.classList.remove("playing");
    if (!playing) return;
    const li = this.list.querySelector(`li[data-testid=script-step][data-seq="${playing.seq}"]`);
    if (!li) return;
    li.classList.add("playing");
    const phases = [...li.querySelectorAll("[data-testid=script-phase]")]
      .filter((p) => Number(p.dataset.delta) < playing.upto);
    phases[phases.length - 1]?.classList.add("playing");
    scrollWithin(this.list, li);
  }

  progress() {
    const s = this.store;
    const total = s.script.length;
    const progress = this.root.querySelector("[data-testid=script-progress]");
    delete progress.dataset.kind;
    progress.textContent = total
      ? `${Math.min(s.cursor, total)} of ${total} steps run` : "This session has no script: use the console.";
  }

  // A migrate step as its phases and rounds (from its deltas), each replayable: clicking
  // one shows the step from there, animated.
  phases(ev) {
    const stats = [...ev.deltas].reverse().find((d) => d.kind === "migration" && d.event === "stats");
    const rows = [];
    let round = 0;
    ev.deltas.forEach((d, index) => {
      if (d.kind !== "migration" || (d.event !== "phase" && d.event !== "failed")) return;
      if (d.event === "failed") {
        rows.push([index, `failed: ${d.why}`]);
        return;
      }
      const r = stats?.rounds?.[round];
      round += 1;
      const what = d.phase === "round" ? `round ${round}` : d.phase;
      const counts = r ? [r.sent && `${r.sent} sent`, r.normalised && `${r.normalised} normalised`,
                          r.deferred && `${r.deferred} deferred`, r.localised && `${r.localised} localised`,
                          r.pinned && `${r.pinned} pinned`].filter(Boolean).join(", ") : "";
      rows.push([index, counts ? `${what}: ${counts}` : what]);
    });
    const list = el("ol", { class: "sub", "data-testid": "script-phases" });
    for (const [index, text] of rows) {
      const sub = el("li", { "data-testid": "script-phase", "data-delta": String(index),
                             title: "Replay the migration from here" }, `▸ ${text}`);
      sub.addEventListener("click", (e) => {
        e.stopPropagation();
        this.replayFrom?.(ev.seq, index);
      });
      list.append(sub);
    }
    return list;
  }

  item(step, i) {
    const state = i < this.store.cursor ? "done" : i === this.store.cursor ? "current" : "todo";
    // In the past, results of steps that have not happened yet are hidden ("unrun").
    const ran = this.results.get(i);
    const ev = ran || null;
    const outcome = ev ? eventOutcome(ev) : "";
    const li = el("li", { class: `${state} ${outcome} ${ran && state !== "done" ? "unrun" : ""} ${"note" in step && Object.keys(step).length === 1 ? "narration" : ""}`,
                          "data-testid": "script-step", "data-index": String(i), "data-state": state,
                          value: i + 1,
                          "data-outcome": outcome, ...(ran ? { "data-seq": String(ran.seq) } : {}),
                          ...(ran ? { title: `Show the state after this step (#${ran.seq})` } : {}) },
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
      if (ev.op === "migrate") li.append(this.phases(ev));
    }
    return li;
  }
}
