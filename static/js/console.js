// The hypercall console: one form per operation of the step vocabulary. Forms are filled
// by clicking frames and entries; the rc and errno of each step show at once.
import { describeStep } from "./steps.js";

const FORMS = ["mmu_update", "mmuext", "write", "memory", "migrate"];

function pageRef(form) {
  const kind = form.elements.pageKind.value;
  return { [kind]: Number(form.elements.page.value) };
}

const readers = {
  mmu_update(form) {
    const f = form.elements;
    const kind = f.entryKind.value;
    const entry = kind === "clear" ? 0 : {
      [kind]: Number(f.entry.value),
      flags: [...form.querySelectorAll("input[name=flag]:checked")].map((c) => c.value),
    };
    return { mmu_update: { ...pageRef(form), index: Number(f.index.value), entry } };
  },
  mmuext(form) {
    const f = form.elements;
    const body = { cmd: f.cmd.value, ...pageRef(form) };
    const after = f.preempt_after.value === "" ? null : Number(f.preempt_after.value);
    if (f.preempt_pfn.value !== "") {
      // a preemption point in a nested L2/L3 (docs/scenario-extensions.md)
      body.preempt = { pfn: Number(f.preempt_pfn.value), after: after ?? 1 };
    } else if (after !== null) {
      body.preempt_after = after;
    }
    return { mmuext: body };
  },
  write: (form) => ({ write: pageRef(form) }),
  memory: (form) => ({ memory: { cmd: form.elements.cmd.value, pfn: Number(form.elements.pfn.value) } }),
  migrate(form) {
    const { phase, rounds, toolstack } = form.elements;
    const body = { phase: phase.value };
    if (phase.value === "all" && rounds.value !== "") body.rounds = Number(rounds.value);
    // xl is the default tool stack; it goes with the phase that starts a migration
    if (["all", "begin"].includes(phase.value) && toolstack.value !== "xl") {
      body.toolstack = toolstack.value;
    }
    if (Object.keys(body).length > 1) return { migrate: body };
    return { migrate: phase.value === "all" ? "all" : { phase: phase.value } };
  },
};

// PFNs whose final contents this migrate step's final pass did not send (toolstack xl).
export function lostPfns(event) {
  return (event.deltas || []).filter((d) => d.kind === "migration" && d.event === "lost")
    .map((d) => d.pfn);
}

export function resultText(event) {
  if (event.result === "ask") return event.assertions.every((a) => a.ok) ? "question" : "question: key wrong";
  if (event.result === "check" || event.result === "note") {
    const failed = event.assertions.filter((a) => !a.ok).length;
    return event.result === "note" ? "note" : failed ? `${failed} check(s) failed` : "checks hold";
  }
  if (event.op === "migrate") {
    if (event.rc !== 0) return `migration failed (rc ${event.rc} ${event.errno})`;
    const lost = lostPfns(event);
    return lost.length ? `migration succeeded; the guest lost PFN ${lost.join(", ")}` : "migration ok";
  }
  return event.rc === 0 ? "rc 0 (ok)" : `rc ${event.rc} ${event.errno || ""}`.trim();
}

export class Console {
  constructor(root, store, ui, link) {
    Object.assign(this, { root, store, ui, link });
    this.forms = Object.fromEntries(FORMS.map((op) => [op, root.querySelector(`[data-form=${op}]`)]));
    this.result = root.querySelector("[data-testid=console-result]");
    for (const [op, form] of Object.entries(this.forms)) {
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        this.send(readers[op](form));
      });
    }
    for (const tab of root.querySelectorAll("[data-form-tab]")) {
      tab.addEventListener("click", () => this.show(tab.dataset.formTab));
    }
    this.show("mmu_update");
  }

  show(op) {
    for (const [name, form] of Object.entries(this.forms)) form.hidden = name !== op;
    for (const tab of this.root.querySelectorAll("[data-form-tab]")) {
      tab.setAttribute("aria-selected", String(tab.dataset.formTab === op));
    }
  }

  // Send one step; show its rc/errno (or the field the server refused) straight away.
  async send(step) {
    this.showResult("pending", `${describeStep(step)} …`);
    try {
      const event = await this.link.step(step);
      const failed = event.assertions.some((a) => !a.ok);
      const bad = event.rc !== 0 || failed || lostPfns(event).length > 0;
      const why = event.message ? ` — ${event.message}` : "";
      this.showResult(bad ? "error" : "ok", `#${event.seq} ${describeStep(step)}: ${resultText(event)}${why}`);
      return event;
    } catch (err) {
      this.showResult("invalid", `Refused${err.field ? ` (${err.field})` : ""}: ${err.message}`);
      return null;
    }
  }

  showResult(kind, text) {
    this.result.dataset.kind = kind;
    this.result.textContent = text;
  }

  // A frame was clicked: it becomes the page of every form.
  fillPage(pfn, mfn) {
    const kind = pfn !== null && pfn !== undefined ? "pfn" : "mfn";
    const value = kind === "pfn" ? pfn : mfn;
    if (value === null || value === undefined) return;
    for (const form of Object.values(this.forms)) {
      if (form.elements.pageKind) {
        form.elements.pageKind.value = kind;
        form.elements.page.value = value;
      }
    }
    if (kind === "pfn") this.forms.memory.elements.pfn.value = pfn;
  }

  // Shift-click: the frame becomes the mmu_update entry's target.
  fillEntryTarget(pfn, mfn) {
    const f = this.forms.mmu_update.elements;
    f.entryKind.value = pfn !== null && pfn !== undefined ? "pfn" : "mfn";
    f.entry.value = f.entryKind.value === "pfn" ? pfn : mfn;
  }

  // An inspector entry was clicked: load it into mmu_update, ready to rewrite or clear.
  fillEntry(detail, entry) {
    this.fillPage(detail.pfn, detail.mfn);
    const form = this.forms.mmu_update;
    form.elements.index.value = entry.index;
    this.fillEntryTarget(entry.pfn, entry.mfn);
    for (const box of form.querySelectorAll("input[name=flag]")) box.checked = entry.flags.includes(box.value);
    this.show("mmu_update");
  }

  selectedPage() {
    const sel = this.ui.selected;
    if (!sel || sel.mfn === null) return null;
    const frame = this.store.frame(sel.host, sel.mfn);
    return frame.pfn !== null ? { pfn: frame.pfn } : { mfn: sel.mfn };
  }

  // p: pin at the frame's page-table level, else at the level chosen in the mmuext form.
  pinSelected() {
    const page = this.selectedPage();
    if (!page) return this.showResult("invalid", "Select a frame first.");
    const type = this.store.frame(this.ui.selected.host, this.ui.selected.mfn).type;
    const chosen = this.forms.mmuext.elements.cmd.value;
    const cmd = /^l[1-4]$/.test(type) ? `pin_${type}` : chosen.startsWith("pin_") ? chosen : "pin_l1";
    return this.send({ mmuext: { cmd, ...page } });
  }

  unpinSelected() {
    const page = this.selectedPage();
    if (!page) return this.showResult("invalid", "Select a frame first.");
    return this.send({ mmuext: { cmd: "unpin", ...page } });
  }

  writeSelected() {
    const page = this.selectedPage();
    if (!page) return this.showResult("invalid", "Select a frame first.");
    return this.send({ write: page });
  }
}
