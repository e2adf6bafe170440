// Steps of the scenario contract (shared/spec/scenarios.md section 2): how to print them,
// and how to recognise an event as the script's next step.

const isVariantPair = (v) =>
  v && typeof v === "object" && !Array.isArray(v) &&
  Object.keys(v).length === 2 && "patched" in v && "unpatched" in v;

// The step as the engine echoes it: {patched, unpatched} pairs resolved for this variant,
// nulls dropped, `migrate: {phase: X}` written as `migrate: X`.
export function canonicalStep(value, xen) {
  if (isVariantPair(value)) return canonicalStep(value[xen], xen);
  if (Array.isArray(value)) return value.map((v) => canonicalStep(v, xen));
  if (value && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value).sort()) {
      const v = canonicalStep(value[key], xen);
      if (v !== null && v !== undefined) out[key] = v;
    }
    // `rounds` and `toolstack` may stand beside `migrate: all` (engine/scenario.py)
    for (const key of ["rounds", "toolstack"]) {
      if (out.migrate !== undefined && key in out) {
        const body = typeof out.migrate === "string" ? { phase: out.migrate } : out.migrate;
        out.migrate = canonicalStep({ ...body, [key]: out[key] }, xen);
        delete out[key];
      }
    }
    if (out.migrate && typeof out.migrate === "object" && Object.keys(out.migrate).join() === "phase") {
      out.migrate = out.migrate.phase;
    }
    return out;
  }
  return value;
}

// Events do not say whether they came from the script, so an event advances the script
// cursor when its step is the script's next step.
export function isScriptStep(eventStep, scriptStep, xen) {
  return JSON.stringify(canonicalStep(eventStep, xen)) ===
         JSON.stringify(canonicalStep(scriptStep, xen));
}

export const OPS = ["mmu_update", "mmuext", "write", "memory", "migrate", "check", "ask", "note"];

export function opOf(step) {
  return OPS.find((op) => op in step) || (step.note !== undefined ? "note" : "?");
}

function page(ref) {
  if (!ref || typeof ref !== "object") return String(ref);
  return "pfn" in ref ? `PFN ${ref.pfn}` : `MFN ${ref.mfn}`;
}

function entryText(entry) {
  if (entry === 0 || entry === "0") return "0 (clear)";
  return `${page(entry)} [${(entry.flags || []).join(" ")}]`;
}

function value(v) {
  if (v && typeof v === "object" && Object.keys(v).join() === "rc") return String(v.rc);
  if (isVariantPair(v)) return `${value(v.unpatched)} (unpatched) / ${value(v.patched)} (patched)`;
  if (v && typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function checkText(c) {
  const target = c.frame ? `frame ${page(c.frame)}` : c.pfinfo ? `pfinfo ${page(c.pfinfo)}`
    : c.entry ? `entry ${page(c.entry)}[${c.entry.index}]` : "";
  const fields = Object.entries(c)
    .filter(([k]) => !["frame", "pfinfo", "entry", "on"].includes(k))
    .map(([k, v]) => `${k}=${value(v)}`);
  return `check ${target} ${fields.join(", ")}`.replace(/\s+/g, " ").trim();
}

// One line a lecturer can read aloud.
export function describeStep(step) {
  const op = opOf(step);
  const b = step[op];
  switch (op) {
    case "mmu_update": return `mmu_update ${page(b)}[${b.index}] = ${entryText(b.entry)}`;
    case "mmuext": {
      let pre = b.preempt_after !== undefined ? ` (preempt after ${b.preempt_after})` : "";
      if (b.preempt) pre += ` (preempt in ${page(b.preempt)} after ${b.preempt.after})`;
      return `mmuext ${b.cmd} ${page(b)}${pre}`;
    }
    case "write": return `write ${page(b)}`;
    case "memory": return `memory ${b.cmd} ${page(b)}`;
    case "migrate":
      return typeof b === "string" ? `migrate ${b}`
        : `migrate ${b.phase || "all"}${b.rounds !== undefined ? ` (${b.rounds} rounds)` : ""}` +
          `${b.toolstack ? ` (tool stack ${b.toolstack})` : ""}`;
    case "check": return checkText(b);
    case "ask": return `ask: ${b.question}`;
    case "note": return step.note;
    default: return JSON.stringify(step);
  }
}

export function expectText(expect) {
  return expect === undefined ? "" : `expect ${value(expect)}`;
}
