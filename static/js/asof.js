// A frame's inspector detail as of the delta group the animation is playing: between the
// server's detail before the event (seq N-1) and after it (seq N), rebuilt from the
// event's deltas (docs/deltas.md: every state delta carries `old` and `new`).
import { unpackInts } from "./deltas.js";
import { patchBranch } from "./patch.js";

// engine/pte.py FLAG_BITS (x86 _PAGE_*), in the order flag_names() lists them.
const FLAG_BITS = [["present", 1n], ["rw", 2n], ["user", 4n], ["accessed", 0x20n],
                   ["dirty", 0x40n], ["pse", 0x80n], ["nx", 1n << 63n], ["global", 0x100n]];
const MFN_MASK = (1n << 40n) - 1n;   // MFN_BITS, engine/constants.py
const LEVELS = new Set(["l1", "l2", "l3", "l4"]);
// is_guest_l4_slot() for a 64-bit guest: slots 256..271 are Xen's (ROOT_PAGETABLE_*_XEN_SLOT)
const guestL4Slot = (i) => i < 256 || i > 271;

// A frame is looked up in a delta's packed arrays (docs/deltas.md) without expanding them:
// runs and run-length values are searched and indexed arithmetically; only base64 Int32
// arrays (MFNs in no order) are decoded, into typed arrays kept for the one event being
// played (asked again at every group) and dropped when another event is asked about or
// the animation ends (forgetDecoded): a 2^20-page migration never leaves its arrays behind.
const decoded = new Map();   // packed array object -> Int32Array, of `decodedFor` only
let decodedFor = null;

function ints(v) {
  let a = decoded.get(v);
  if (!a) { a = unpackInts(v); decoded.set(v, a); }
  return a;
}

export function forgetDecoded() {
  decoded.clear();
  decodedFor = null;
}

// How many arrays are decoded and kept (tests).
export const decodedCount = () => decoded.size;

// Position of `value` in a packed array (or a plain one), or -1.
export function indexIn(v, value) {
  if (v === null || typeof v !== "object") return v === value ? 0 : -1;
  if (Array.isArray(v)) return v.indexOf(value);
  let at = 0;
  if (v.runs) {
    const r = v.runs;
    for (let i = 0; i < r.length; i += 3) {
      const [first, count, step] = [r[i], r[i + 1], r[i + 2]];
      const k = step === 0 ? (value === first ? 0 : -1) : (value - first) / step;
      if (Number.isInteger(k) && k >= 0 && k < count) return at + k;
      at += count;
    }
    return -1;
  }
  if (v.rle) {
    for (let i = 0; i < v.rle.length; i += 2) {
      if (v.rle[i] === value) return at;
      at += v.rle[i + 1];
    }
    return -1;
  }
  return ints(v).indexOf(value);
}

// Item k of a packed array; a value that is not an array is every item's.
export function itemAt(v, k) {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v[k];
  let at = 0;
  if (v.runs || v.rle) {
    const [flat, stride] = v.runs ? [v.runs, 3] : [v.rle, 2];
    for (let i = 0; i < flat.length; i += stride) {
      const count = flat[i + 1];
      if (k < at + count) return stride === 3 ? flat[i] + (k - at) * flat[i + 2] : flat[i];
      at += count;
    }
    return undefined;
  }
  return ints(v)[k];
}

// What event's deltas change of frame `mfn` on `host`, in order: {at, field, old, new},
// {at, entry: index, old, new} or {at, page: true} (contents replaced, old not carried).
export function changesOf(event, host, mfn) {
  if (decodedFor !== event) { decoded.clear(); decodedFor = event; }
  const out = [];
  (event.deltas || []).forEach((d, at) => {
    if (d.host !== host) return;
    switch (d.kind) {
      case "frame": if (d.mfn === mfn) out.push({ at, field: d.field, old: d.old, new: d.new }); break;
      case "frames": {
        const i = indexIn(d.mfns, mfn);
        if (i >= 0) out.push({ at, field: d.field, old: itemAt(d.old, i), new: itemAt(d.new, i) });
        break;
      }
      case "m2p": if (d.mfn === mfn) out.push({ at, field: "m2p", old: d.old, new: d.new }); break;
      case "m2p_many": {
        const i = indexIn(d.mfns, mfn);
        if (i >= 0) out.push({ at, field: "m2p", old: itemAt(d.old, i), new: itemAt(d.new, i) });
        break;
      }
      case "entry": if (d.mfn === mfn) out.push({ at, entry: d.index, old: d.old, new: d.new }); break;
      case "page": if (d.mfn === mfn) out.push({ at, page: true }); break;
      case "pages": if (indexIn(d.mfns, mfn) >= 0) out.push({ at, page: true }); break;
      default: break;
    }
  });
  return out;
}

const ptesOf = (detail) => new Map((detail?.entries || []).map((e) => [e.index, BigInt(e.pte)]));

// The frame's contents after the first `upto` deltas: the detail after the event with the
// later entry writes undone, or, when its whole contents are replaced later in the event
// (a restore's page data), the detail before it with the earlier entry writes applied.
function contentsAsOf(before, after, changes, upto) {
  const pages = changes.filter((c) => c.page);
  const writes = changes.filter((c) => c.entry !== undefined);
  if (!pages.some((c) => c.at >= upto)) {
    const ptes = ptesOf(after);
    for (const c of writes.filter((w) => w.at >= upto).reverse()) ptes.set(c.entry, BigInt(c.old));
    return { ptes, exact: true };
  }
  if (before && !pages.some((c) => c.at < upto)) {
    const ptes = ptesOf(before);
    for (const c of writes.filter((w) => w.at < upto)) ptes.set(c.entry, BigInt(c.new));
    return { ptes, exact: true };
  }
  // Replaced both before and after this point: what it held in between is not carried.
  return { ptes: ptesOf(after), exact: false };
}

// frameOf(host, mfn): the frame as the grid shows it at this point (display.js), for the
// targets of entries; xen: "patched" or "unpatched".
export function detailAsOf(before, after, event, upto, host, mfn, xen, frameOf) {
  const changes = changesOf(event, host, mfn);
  const d = { ...after, asOf: { seq: event.seq, upto } };
  for (const c of changes.filter((x) => x.field && x.at >= upto).reverse()) d[c.field] = c.old;
  if (changes.some((c) => c.field && c.at >= upto)) {
    d.pfn = d.owner === "guest" && d.m2p >= 0 ? d.m2p : null;
  }
  if ("pfinfo" in after || (before && "pfinfo" in before)) d.pfinfo = patchBranch(d)[xen];
  const { ptes, exact } = contentsAsOf(before, after, changes, upto);
  d.entriesExact = exact;
  const level = LEVELS.has(d.type) ? d.type : null;
  const partialSlot = d.partial && d.partial_set ? d.nr_validated_ptes : null;
  d.entries = [...ptes.entries()].filter(([, pte]) => pte & 1n).sort((a, b) => a[0] - b[0])
    .map(([index, pte]) => {
      const target = Number((pte >> 12n) & MFN_MASK);
      const f = frameOf(host, target);
      const pfn = f && f.owner === "guest" ? f.pfn : null;
      // MM.entry_holds_references()
      const holds = level === null ? false
        : d.validated ? (level !== "l4" || guestL4Slot(index))
          : d.partial && index < d.nr_validated_ptes + (d.partial_set ? 1 : 0);
      return { index, pte: `0x${pte.toString(16).padStart(16, "0")}`, mfn: target,
               flags: FLAG_BITS.filter(([, bit]) => pte & bit).map(([name]) => name), pfn,
               target_owner: f ? f.owner : "invalid", target_type: f ? f.type : null,
               holds_references: Boolean(holds), partial_slot: index === partialSlot,
               stale: pfn === null };
    });
  return d;
}
