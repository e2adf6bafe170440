// "What the patch changed": the hunk of commit 0a87e677f4 (x86/PV: make post-migration page
// state consistent) in XEN_DOMCTL_getpageframeinfo3, xen/arch/x86/domctl.c, with the branch
// the selected frame takes lit, and what each Xen reports for it.
import { codeUrl } from "./codelinks.js";
import { el } from "./dom.js";

// Quoted from xen.git 0a87e677f4, xen/arch/x86/domctl.c (RELEASE-4.16.0 lines 304-310);
// `sign` is the diff's. The first line stands for the switch above it (lines 288-302).
const HUNK = [
  { id: "switch", sign: " ", text: "switch ( page->u.inuse.type_info & PGT_type_mask ) … type = XEN_DOMCTL_PFINFO_LnTAB;", summary: true },
  { id: "pinned", sign: " ", text: "if ( page->u.inuse.type_info & PGT_pinned )" },
  { id: "lpintab", sign: " ", text: "    type |= XEN_DOMCTL_PFINFO_LPINTAB;" },
  { id: "validated", sign: "+", text: "else if ( !(page->u.inuse.type_info & PGT_validated) )" },
  { id: "notab", sign: "+", text: "    type = XEN_DOMCTL_PFINFO_NOTAB;" },
  { id: "blank", sign: " ", text: "" },
  { id: "broken", sign: " ", text: "if ( page->count_info & PGC_broken )" },
  { id: "brokentab", sign: " ", text: "    type = XEN_DOMCTL_PFINFO_BROKEN;" },
];
const LEVEL = { l1: 1, l2: 2, l3: 3, l4: 4 };

// The branch a frame takes, and the answer under each Xen (as domctl.c computes it).
export function patchBranch(d) {
  if (d.owner !== "guest" || !d.count) {
    return { lit: [], unpatched: "XTAB", patched: "XTAB", why: "Not a page of the guest: XTAB before this code runs." };
  }
  const level = LEVEL[d.type] || 0;
  const base = level ? `L${level}TAB` : "NOTAB";
  if (d.pinned) {
    return { lit: ["switch", "pinned", "lpintab", "broken"], unpatched: `${base}+LPINTAB`, patched: `${base}+LPINTAB`,
             why: "Pinned: LPINTAB is added; the new branch is not reached." };
  }
  if (!d.validated) {
    return { lit: ["switch", "pinned", "validated", "notab", "broken"], unpatched: base, patched: "NOTAB",
             why: level ? "Neither pinned nor PGT_validated: Xen 4.15 reports the stale type, the patch reports NOTAB." :
                          "Not validated, but not a page table either: NOTAB both ways." };
  }
  return { lit: ["switch", "pinned", "validated", "broken"], unpatched: base, patched: base,
           why: "Validated: the new branch's test is false; both report the type." };
}

export class PatchPanel {
  // Shows the frame the inspector shows (show(detail)): the moment on the timeline, or
  // the delta group an animation is playing.
  constructor(container) {
    this.root = el("details", { class: "patch-panel", "data-testid": "patch-panel" },
      el("summary", {}, "What the patch changed (0a87e677f4)"));
    this.body = el("div", {});
    this.root.append(this.body);
    container.append(this.root);
    this.detail = null;
    this.root.addEventListener("toggle", () => { if (this.root.open) this.render(this.detail); });
    this.render(null);
  }

  show(detail) {
    this.detail = detail;
    if (this.root.open) this.render(detail);
  }

  render(d) {
    const branch = d ? patchBranch(d) : { lit: [] };
    const url = codeUrl("getpageframeinfo3", "4.16");
    const lines = HUNK.map((l) => el("div", {
      class: `line ${l.sign === "+" ? "added" : ""} ${branch.lit.includes(l.id) ? "lit" : ""} ${l.summary ? "summary" : ""}`,
      "data-line": l.id, "data-lit": String(branch.lit.includes(l.id)) },
      el("span", { class: "sign" }, l.sign), el("code", {}, l.text)));
    const head = el("p", { class: "hint" }, "XEN_DOMCTL_getpageframeinfo3, xen/arch/x86/domctl.c: ",
      url ? el("a", { href: url, target: "_blank", rel: "noopener" }, "4.16 source") : "", ". ",
      "The patch adds the two + lines: a page table that is neither pinned nor validated is reported NOTAB.");
    const verdict = d
      ? el("p", { class: "verdict", "data-testid": "patch-verdict" },
        `${d.pfn !== null && d.pfn !== undefined ? `PFN ${d.pfn}` : `MFN ${d.mfn}`}: unpatched (≤ 4.15) ${branch.unpatched}, ` +
        `patched (≥ 4.16) ${branch.patched}. ${branch.why}`)
      : el("p", { class: "hint" }, "Select a frame to see which branch it takes.");
    this.body.replaceChildren(head, el("pre", { class: "hunk", "data-testid": "patch-hunk" }, ...lines), verdict);
  }
}
