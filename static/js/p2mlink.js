// Hovering a guest frame while both hosts are shown draws its P2M link: a line to the
// frame behind the same PFN on the other host, so a page can be followed across a migration.
const LINK_COLOUR = "#cc79a7";   // Okabe-Ito reddish purple: apart from every type colour

export class P2mLink {
  // locate(host, mfn) -> {x, y} client centre or null; busy() -> the overlay is animating
  constructor(overlay, store, ui, locate, busy) {
    Object.assign(this, { overlay, store, ui, locate, busy });
  }

  show(host, mfn, pfn) {
    this.clear();
    if (this.ui.view !== "both" || pfn === null || pfn === undefined || this.busy()) return;
    const other = host === "source" ? "destination" : "source";
    const p2m = this.store.hosts[other]?.p2m;
    const otherMfn = p2m ? p2m[pfn] : -1;
    if (!(otherMfn >= 0)) return;
    const a = this.locate(host, mfn);
    const b = this.locate(other, otherMfn);
    if (!a || !b) return;
    const rect = this.overlay.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    this.overlay.width = rect.width * dpr;
    this.overlay.height = rect.height * dpr;
    const ctx = this.overlay.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const [x1, y1, x2, y2] = [a.x - rect.left, a.y - rect.top, b.x - rect.left, b.y - rect.top];
    ctx.strokeStyle = LINK_COLOUR;
    ctx.lineWidth = 3;
    ctx.setLineDash([8, 5]);
    ctx.beginPath();
    ctx.moveTo(x1, y1);
    ctx.lineTo(x2, y2);
    ctx.stroke();
    ctx.setLineDash([]);
    for (const [x, y] of [[x1, y1], [x2, y2]]) {
      ctx.beginPath();
      ctx.arc(x, y, 6, 0, Math.PI * 2);
      ctx.stroke();
    }
    const label = `PFN ${pfn}: ${host} MFN ${mfn} ↔ ${other} MFN ${otherMfn}`;
    ctx.font = "600 14px system-ui, sans-serif";
    const w = ctx.measureText(label).width + 12;
    const lx = Math.min(Math.max((x1 + x2) / 2 - w / 2, 0), rect.width - w);
    const ly = Math.min((y1 + y2) / 2 + 16, rect.height - 24);   // below the line: the cells stay visible
    ctx.fillStyle = "rgba(255, 255, 255, 0.92)";
    ctx.fillRect(lx, ly, w, 22);
    ctx.fillStyle = "#222";
    ctx.textBaseline = "middle";
    ctx.fillText(label, lx + 6, ly + 11);
    this.overlay.dataset.p2mLink = `${pfn}:${host}:${mfn}:${other}:${otherMfn}`;
  }

  clear() {
    if (!this.overlay.dataset.p2mLink) return;
    delete this.overlay.dataset.p2mLink;
    this.overlay.getContext("2d").clearRect(0, 0, this.overlay.width, this.overlay.height);
  }
}
