// Which guest PFN each page-table entry was meant to point at, learnt from the successful
// mmu_update steps that wrote it (entries are keyed by guest PFN and index, so the intent
// survives a migration even when the entry's MFN no longer names that PFN's frame).
// Entries the domain builder wrote are not known here.

export class IntentTracker {
  constructor() { this.intended = new Map(); }

  reset() { this.intended.clear(); }

  record(event) {
    const body = event.step && event.step.mmu_update;
    if (!body || event.rc !== 0 || body.pfn === undefined) return;
    const key = `${body.pfn}:${body.index}`;
    const entry = body.entry;
    if (entry && typeof entry === "object" && entry.pfn !== undefined) {
      this.intended.set(key, { pfn: entry.pfn, seq: event.seq });
    } else {
      this.intended.delete(key);   // cleared, or a raw MFN written on purpose
    }
  }

  // {pfn, seq} the entry was last written to mean, or undefined when unknown.
  of(pagePfn, index) { return this.intended.get(`${pagePfn}:${index}`); }
}
