// One line of text per delta (docs/deltas.md), for the animation ticker and the history.

function short(v) { return v === null || v === undefined ? "none" : String(v); }

export function deltaText(d) {
  switch (d.kind) {
    case "frame": return `${d.host} MFN ${d.mfn}: ${d.field} ${short(d.old)} → ${short(d.new)}`;
    case "frames": return `${d.host}: ${d.mfns.length} frames ${d.field} → ${short(d.new)}`;
    case "entry": return `${d.host} MFN ${d.mfn}[${d.index}]: ${d.old} → ${d.new}`;
    case "page": return `${d.host} MFN ${d.mfn}: contents ${d.present ? `written (${d.present} present entries)` : "cleared"}`;
    case "m2p": return `${d.host} M2P[${d.mfn}] ${d.old} → ${d.new}`;
    case "m2p_many": return `${d.host}: M2P of ${d.mfns.length} frames set`;
    case "p2m": return `${d.host} P2M[${d.pfn}] ${d.old} → ${d.new}`;
    case "p2m_many": return `${d.host}: P2M of ${d.pfns.length} PFNs set`;
    case "cr3": return `${d.host} base pointer MFN ${short(d.old)} → ${short(d.new)}`;
    case "domain": return `${d.host} domain ${d.field} ${d.old} → ${d.new}`;
    case "dirty": return `${d.host} PFN ${d.pfn} marked dirty`;
    case "dirty_clean": return `${d.host}: dirty bitmap read and cleared (${d.pfns.length} PFNs)`;
    case "migration": return migrationText(d);
    default: return d.kind;
  }
}

function migrationText(d) {
  switch (d.event) {
    case "phase": return `migration: ${d.phase} (${d.src} → ${d.dst})`;
    case "batch": return `batch of ${d.pfns.length} PFNs sent (round ${d.round})`;
    case "localise": return `PFN ${d.pfn} localised as L${d.level} into MFN ${d.mfn}`;
    case "pin": return `restore pins L${d.level} PFN ${d.pfn}: rc ${d.rc}`;
    case "defer": return `PFN ${d.pfn} deferred: ${d.why}`;
    case "vcpu": return `vCPU context: base pointer PFN ${d.cr3_pfn}`;
    case "resumed": return `guest resumed on ${d.host}`;
    case "failed": return `migration FAILED (${d.errno}): ${d.why}`;
    default: return `migration ${d.event}`;
  }
}
