// The Explore panel: `pvframes explore` from the current session's state (docs/explore.md).
// The server searches in the background and pushes explore_progress / explore_finding /
// explore_done to this client (docs/protocol.md); a finding opens as a new session of its
// scenario: unpatched beside patched (the compare view), or either alone.
import { createCompare, createSession } from "./api.js";
import { compareUrl } from "./compare.js";

const $ = (sel, root) => root.querySelector(sel);

export class ExplorePanel {
  constructor(root, store, socket, openSession) {
    this.root = root;
    this.store = store;
    this.socket = socket;
    this.openSession = openSession;
    this.run = null;   // id of the search this tab started, while it runs
    this.form = $("[data-testid=explore-form]", root);
    this.stopButton = $("[data-testid=explore-stop]", root);
    this.progress = $("[data-testid=explore-progress]", root);
    this.list = $("[data-testid=explore-findings]", root);
    this.form.addEventListener("submit", (e) => { e.preventDefault(); this.start(); });
    this.stopButton.addEventListener("click", () => this.stop());
    socket.on("explore_progress", (p) => p.id === this.run && this.showProgress(p));
    socket.on("explore_finding", (f) => f.id === this.run && this.addFinding(f));
    socket.on("explore_done", (d) => d.id === this.run && this.done(d));
  }

  async start() {
    const goal = this.form.goal.value;
    const budget = Number(this.form.budget.value);
    this.list.replaceChildren();
    this.say(`Exploring (${goal}, ${budget} s)…`);
    try {
      const ack = await this.socket.timeout(15000).emitWithAck("explore_start",
        { session: this.store.sessionId, goal, budget });
      if (!ack.ok) throw new Error(`${ack.error.field ? ack.error.field + ": " : ""}${ack.error.message}`);
      this.run = ack.id;
      this.root.dataset.state = "running";
      this.stopButton.disabled = false;
    } catch (err) {
      this.say(`Could not start: ${err.message}`, "error");
    }
  }

  async stop() {
    if (!this.run) return;
    await this.socket.timeout(15000).emitWithAck("explore_cancel", { id: this.run }).catch(() => {});
  }

  showProgress(p) {
    this.say(`${p.explored.toLocaleString()} steps explored · ${p.rate.toLocaleString()}/s · ` +
             `${p.findings} finding${p.findings === 1 ? "" : "s"} · ${p.elapsed.toFixed(1)} s`);
  }

  done(d) {
    this.run = null;
    this.root.dataset.state = "done";
    this.stopButton.disabled = true;
    const why = { budget: "budget spent", cancelled: "stopped" }[d.stopped] || d.stopped;
    const n = this.list.children.length;
    this.say(d.error ? `Failed: ${d.error}` :
      `Done (${why}): ${d.explored.toLocaleString()} steps, ${n} finding${n === 1 ? "" : "s"}` +
      (n ? "" : " — none reached the goal"), d.error ? "error" : "");
  }

  addFinding(f) {
    const li = document.createElement("li");
    li.dataset.testid = "explore-finding";
    const title = document.createElement("p");
    title.className = "finding-title";
    const sig = f.signature;
    title.textContent = `${sig.op}: ${sig.field}`;
    const meta = document.createElement("p");
    meta.className = "finding-meta";
    meta.textContent = `${f.length} steps (from ${f.unshrunk}) · ${f.xen === "both" ? "both Xens" : f.xen + " only"}` +
      (sig.fn ? ` · decided by ${sig.fn}` : "");
    const note = document.createElement("p");
    note.className = "finding-note";
    note.textContent = f.note;
    const open = document.createElement("div");
    open.className = "buttons";
    const both = document.createElement("button");
    both.type = "button";
    both.dataset.testid = "explore-open-compare";
    both.textContent = "Side by side";
    both.title = "Unpatched beside patched in the compare view, with where they diverge";
    both.addEventListener("click", () => this.compare(f));
    open.append(both);
    for (const xen of ["unpatched", "patched"]) {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.testid = `explore-open-${xen}`;
      b.textContent = xen[0].toUpperCase() + xen.slice(1);
      b.title = `A new session of this finding's scenario under ${xen} Xen; step through it with n`;
      b.addEventListener("click", () => this.open(f, xen));
      open.append(b);
    }
    li.append(title, meta, note, open);
    this.list.append(li);
  }

  async open(f, xen) {
    try {
      const made = await createSession({ scenario: f.yaml, xen });
      await this.openSession(made.id);
    } catch (err) {
      this.say(`Could not open: ${err.message}`, "error");
    }
  }

  // The patched-beside-unpatched view (compare.js): POST /api/compare makes the pair from
  // the finding's scenario, each run to its end; the divergence list says where they part.
  async compare(f) {
    try {
      const made = await createSession({ scenario: f.yaml, xen: "unpatched" });
      const { a, b } = await createCompare({ session: made.id });
      window.location.assign(compareUrl(a, b));
    } catch (err) {
      this.say(`Could not open: ${err.message}`, "error");
    }
  }

  say(text, kind = "") {
    this.progress.textContent = text;
    this.progress.dataset.kind = kind;
  }
}
