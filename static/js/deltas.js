// Deltas (docs/deltas.md): packed arrays, forward and backward application on the
// client's store, and one line of text per delta for the animation ticker and the history.

// ---- packed arrays -------------------------------------------------------------------------
// A list, {runs: [first, count, step, ...]}, {rle: [value, count, ...]} or {i32: base64}.
export function unpack(v) {
  if (Array.isArray(v)) return v;
  if (v.runs) {
    const out = [];
    for (let i = 0; i < v.runs.length; i += 3) {
      const [first, count, step] = [v.runs[i], v.runs[i + 1], v.runs[i + 2]];
      for (let k = 0; k < count; k++) out.push(first + k * step);
    }
    return out;
  }
  if (v.rle) {
    const out = [];
    for (let i = 0; i < v.rle.length; i += 2) for (let k = 0; k < v.rle[i + 1]; k++) out.push(v.rle[i]);
    return out;
  }
  if (v.i32 !== undefined) return Array.from(int32Of(v.i32));
  throw new Error(`not a packed array: ${JSON.stringify(v).slice(0, 80)}`);
}

// base64 of little-endian int32 (atob is native; a plain loop beats Uint8Array.from's
// callback by an order of magnitude on a 4 MB string).
function int32Of(text) {
  if (Uint8Array.fromBase64) {   // native where the browser has it (Chromium 140+)
    const raw = Uint8Array.fromBase64(text);
    return new Int32Array(raw.buffer, 0, raw.length >> 2);
  }
  const bin = atob(text);
  const bytes = new Uint8Array(bin.length & ~3);
  for (let i = 0; i < bytes.length; i += 1) bytes[i] = bin.charCodeAt(i);
  return new Int32Array(bytes.buffer);
}

// An integer packed array as an Int32Array (for the store's columns and for loops over a
// large delta): no intermediate JS array.
export function unpackInts(v) {
  if (v instanceof Int32Array) return v;
  if (Array.isArray(v)) return Int32Array.from(v);
  if (v.i32 !== undefined) return int32Of(v.i32);
  if (v.runs) {
    const out = new Int32Array(packedLength(v));
    const r = v.runs;
    let at = 0;
    for (let i = 0; i < r.length; i += 3) {
      const first = r[i];
      const end = at + r[i + 1];
      const step = r[i + 2];
      if (step === 0) { out.fill(first, at, end); at = end; continue; }
      for (let x = first; at < end; at += 1, x += step) out[at] = x;
    }
    return out;
  }
  if (v.rle) {
    const out = new Int32Array(packedLength(v));
    let at = 0;
    for (let i = 0; i < v.rle.length; i += 2) { out.fill(v.rle[i], at, at + v.rle[i + 1]); at += v.rle[i + 1]; }
    return out;
  }
  throw new Error(`not a packed array: ${JSON.stringify(v).slice(0, 80)}`);
}

// A packed array as [value, count] segments, without expanding run-length values.
export function segments(v) {
  if (v && v.rle) {
    const out = [];
    for (let i = 0; i < v.rle.length; i += 2) out.push([v.rle[i], v.rle[i + 1]]);
    return out;
  }
  return unpack(v).map((x) => [x, 1]);
}

// How many items a packed array holds, without expanding it.
export function packedLength(v) {
  if (Array.isArray(v)) return v.length;
  let n = 0;
  if (v.runs) for (let i = 1; i < v.runs.length; i += 3) n += v.runs[i];
  else if (v.rle) for (let i = 1; i < v.rle.length; i += 2) n += v.rle[i];
  else if (v.i32 !== undefined) {
    const pad = v.i32.endsWith("==") ? 2 : v.i32.endsWith("=") ? 1 : 0;
    n = (((v.i32.length / 4) * 3 - pad) / 4) | 0;
  }
  return n;
}

// The first `n` items of a packed array (the cells an animation frame rings), decoding no
// more of it than that.
export function unpackHead(v, n) {
  if (Array.isArray(v)) return v.slice(0, n);
  if (v.i32 !== undefined) return Array.from(int32Of(v.i32.slice(0, 4 * Math.ceil((4 * n) / 3)))).slice(0, n);
  const out = [];
  if (v.runs) {
    for (let i = 0; i < v.runs.length && out.length < n; i += 3) {
      for (let k = 0; k < v.runs[i + 1] && out.length < n; k++) out.push(v.runs[i] + k * v.runs[i + 2]);
    }
    return out;
  }
  for (const [value, count] of segments(v)) {
    for (let k = 0; k < count && out.length < n; k++) out.push(value);
    if (out.length >= n) break;
  }
  return out;
}

// ---- application ---------------------------------------------------------------------------
// partial_set: PTF_partial_set, the slot at nr_validated_ptes holds a partial table below
export const FLAG = { allocated: 1, validated: 2, pinned: 4, partial: 8, partial_set: 16 };
const ARRAY_FIELDS = new Set(["owner", "count", "type", "type_count"]);

export function setField(store, h, mfn, field, value) {
  if (field in FLAG) {
    h.flags[mfn] = value ? h.flags[mfn] | FLAG[field] : h.flags[mfn] & ~FLAG[field];
  } else if (field === "owner") {
    if (!h.owners.includes(value)) h.owners.push(value);
    h.owner[mfn] = h.owners.indexOf(value);
  } else if (field === "type") {
    h.type[mfn] = store.types.indexOf(value);
  } else if (ARRAY_FIELDS.has(field)) {
    h[field][mfn] = value;
  }
  // nr_validated_ptes, linear_pt_count: shown by the inspector, which asks the server
}

// One field of many frames (a `frames` delta): `v` is one value for all, or a packed
// array of one value per frame. The stored form of a value (a flag bit, an owner or type
// index) is worked out once per distinct value, run-length values a run at a time, and
// integer fields decoded straight into an Int32Array: a migration sets a million frames at
// a time.
function setFields(store, h, mfns, field, v) {
  const isFlag = field in FLAG;
  if (!isFlag && !ARRAY_FIELDS.has(field)) return;   // nr_validated_ptes...: not held
  const bit = isFlag ? FLAG[field] : 0;
  const column = isFlag ? h.flags : h[field];
  const named = field === "owner" || field === "type";
  const code = new Map();
  const stored = (value) => {
    if (isFlag) return value ? 1 : 0;
    if (!named) return value;
    let c = code.get(value);
    if (c === undefined) {
      if (field === "owner" && !h.owners.includes(value)) h.owners.push(value);
      c = field === "owner" ? h.owners.indexOf(value) : store.types.indexOf(value);
      code.set(value, c);
    }
    return c;
  };
  // Write stored value c to frames mfns[from..to).
  const fill = (from, to, c) => {
    if (!isFlag) { for (let i = from; i < to; i += 1) column[mfns[i]] = c; return; }
    if (c) for (let i = from; i < to; i += 1) column[mfns[i]] |= bit;
    else for (let i = from; i < to; i += 1) column[mfns[i]] &= ~bit;
  };
  if (v === null || typeof v !== "object") { fill(0, mfns.length, stored(v)); return; }
  if (v.rle) {
    let at = 0;
    for (let i = 0; i < v.rle.length; i += 2) {
      fill(at, at + v.rle[i + 1], stored(v.rle[i]));
      at += v.rle[i + 1];
    }
    return;
  }
  if (!isFlag && !named) {   // counts: integers
    const values = unpackInts(v);
    for (let i = 0; i < mfns.length; i += 1) column[mfns[i]] = values[i];
    return;
  }
  const values = unpack(v);
  for (let i = 0; i < mfns.length; i += 1) fill(i, i + 1, stored(values[i]));
}

function p2mOf(store, h) {
  if (!h.p2m) h.p2m = new Int32Array(store.guest.pages).fill(-1);
  return h.p2m;
}

// Set the `which` values ("new" forward, "old" backward) of a state delta. No slot appears
// twice in one delta, so the order within it does not matter.
function put(store, d, which) {
  const h = store.hosts[d.host];
  switch (d.kind) {
    case "frame": setField(store, h, d.mfn, d.field, d[which]); break;
    case "frames": setFields(store, h, unpackInts(d.mfns), d.field, which === "new" ? d.new : d.old); break;
    case "m2p": h.m2p[d.mfn] = d[which]; break;
    case "m2p_many": {
      const values = unpackInts(d[which]);
      const mfns = unpackInts(d.mfns);
      for (let i = 0; i < mfns.length; i += 1) h.m2p[mfns[i]] = values[i];
      break;
    }
    case "p2m": p2mOf(store, h)[d.pfn] = d[which]; break;
    case "p2m_many": {
      const p2m = p2mOf(store, h);
      const values = unpackInts(d[which]);
      const pfns = unpackInts(d.pfns);
      for (let i = 0; i < pfns.length; i += 1) p2m[pfns[i]] = values[i];
      break;
    }
    case "cr3": h.cr3 = d[which]; break;
    case "domain":
      if (d.field === "log_dirty") h.log_dirty = d[which];
      if (d.field === "paused") h.paused = d[which];
      if (d.field === "suspended") h.suspended = d[which];
      break;
    case "dirty": if (which === "new") h.dirty.add(d.pfn); else h.dirty.delete(d.pfn); break;
    case "dirty_many":
      for (const pfn of unpack(d.pfns)) if (which === "new") h.dirty.add(pfn); else h.dirty.delete(pfn);
      break;
    case "dirty_clean":
      for (const pfn of unpack(d.pfns)) if (which === "new") h.dirty.delete(pfn); else h.dirty.add(pfn);
      break;
    default: break;  // "entry", "page(s)": contents, which the store does not hold; notes
  }
}

// Forward: the state after the delta. Backward: the state before it, from its `old`
// values (apply an event's deltas backward last first). Migration notes change no state.
export function applyDelta(store, d) { put(store, d, "new"); }
export function undoDelta(store, d) { put(store, d, "old"); }

function short(v) { return v === null || v === undefined ? "none" : String(v); }

export function deltaText(d) {
  switch (d.kind) {
    case "frame": return `${d.host} MFN ${d.mfn}: ${d.field} ${short(d.old)} → ${short(d.new)}`;
    case "frames": return `${d.host}: ${packedLength(d.mfns)} frames ${d.field} → ${typeof d.new === "object" && d.new !== null ? "…" : short(d.new)}`;
    case "entry": return `${d.host} MFN ${d.mfn}[${d.index}]: ${d.old} → ${d.new}`;
    case "page": return `${d.host} MFN ${d.mfn}: contents ${d.present ? `written (${d.present} present entries)` : "cleared"}`;
    case "m2p": return `${d.host} M2P[${d.mfn}] ${d.old} → ${d.new}`;
    case "m2p_many": return `${d.host}: M2P of ${packedLength(d.mfns)} frames set`;
    case "p2m": return `${d.host} P2M[${d.pfn}] ${d.old} → ${d.new}`;
    case "p2m_many": return `${d.host}: P2M of ${packedLength(d.pfns)} PFNs set`;
    case "pages": return `${d.host}: contents of ${packedLength(d.mfns)} frames replaced`;
    case "dirty_many": return `${d.host}: ${packedLength(d.pfns)} PFNs marked dirty`;
    case "cr3": return `${d.host} base pointer MFN ${short(d.old)} → ${short(d.new)}`;
    case "domain": return `${d.host} domain ${d.field} ${d.old} → ${d.new}`;
    case "dirty": return `${d.host} PFN ${d.pfn} marked dirty`;
    case "dirty_clean": return `${d.host}: dirty bitmap read and cleared (${packedLength(d.pfns)} PFNs)`;
    case "migration": return migrationText(d);
    default: return d.kind;
  }
}

function migrationText(d) {
  switch (d.event) {
    case "phase": return `migration: ${d.phase} (${d.src} → ${d.dst}${d.toolstack ? `, tool stack ${d.toolstack}` : ""})`;
    case "batch": return `${d.batches > 1 ? `${d.batches} batches` : "batch"} of ${packedLength(d.pfns)} PFNs sent (round ${d.round})`;
    case "localise": {
      const n = packedLength(d.pfns);
      return n === 1 ? `PFN ${unpack(d.pfns)[0]} localised as L${unpack(d.levels)[0]} into MFN ${unpack(d.mfns)[0]}`
        : `${n} page tables localised`;
    }
    case "pin": return `restore pins L${d.level} PFN ${d.pfn}: rc ${d.rc}`;
    case "defer": return `PFN ${d.pfn} deferred: ${d.why}`;
    case "lost": return `PFN ${d.pfn} LOST: ${d.why}; sent as XTAB and never again` +
      (d.kept_round ? ` (the destination keeps round ${d.kept_round}'s copy)` : " (no copy sent)");
    case "vcpu": return `vCPU context: base pointer PFN ${d.cr3_pfn}`;
    case "resumed": return `guest resumed on ${d.host}`;
    case "failed": return `migration FAILED (${d.errno}): ${d.why}`;
    default: return `migration ${d.event}`;
  }
}
