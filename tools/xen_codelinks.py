"""Regenerate engine/xen_functions.json: where each function the engine names in its deltas
and messages is defined in xen.git at RELEASE-4.15.0 and RELEASE-4.16.0.

    python tools/xen_codelinks.py /path/to/xen.git > engine/xen_functions.json

Reads the Xen tree with `git grep` at the two tags (no checkout needed) and writes file and
line numbers only; no Xen code is copied.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

TAGS = {"4.15": "RELEASE-4.15.0", "4.16": "RELEASE-4.16.0"}
PATHS = ["xen/arch/x86", "xen/common", "xen/include/asm-x86", "xen/include/xen",
         "tools/libs/guest", "tools/libs/ctrl"]

# engine name -> how to find it: a function (default), {"case": X} for a switch case,
# {"text": regex} for a line, {"symbol": name} where the engine says it differently.
SPECIAL: dict[str, dict[str, str]] = {
    "getpageframeinfo3": {"case": "XEN_DOMCTL_getpageframeinfo3"},
    "XEN_DOMCTL_SHADOW_OP_CLEAN": {"case": "XEN_DOMCTL_SHADOW_OP_CLEAN"},
    "get_l2_linear_pagetable": {"text": r"^define_get_linear_pagetable\(l2\);"},
    "get_l3_linear_pagetable": {"text": r"^define_get_linear_pagetable\(l3\);"},
    "get_l4_linear_pagetable": {"text": r"^define_get_linear_pagetable\(l4\);"},
    "free_domheap_page": {"symbol": "free_domheap_pages"},
    "domain_kill": {"symbol": "domain_kill"},
    "populate_physmap": {"symbol": "populate_physmap"},
    "mod_l2_entry": {"symbol": "mod_l2_entry"},
}
# Names the engine gives to what is not Xen code: the guest kernel, the model's own actions.
NOT_XEN = {
    "guest P2M": "the guest kernel's own P2M array (a PV guest keeps it; Xen does not)",
    "balloon driver": "the guest's balloon driver drops the PFN from its P2M",
    "guest store": "an ordinary store by the guest through a writable mapping",
    "migration aborted": "the tool stack's clean-up after a failed save or restore",
}
ENGINE_NAMES = [
    "_get_page_type", "_put_page_type", "validate_page", "devalidate_page",
    "promote_l1_table", "promote_l2_table", "promote_l3_table", "promote_l4_table",
    "get_page_from_l1e", "get_page_from_l2e", "get_page_from_l3e", "get_page_from_l4e",
    "put_page_from_l1e", "get_l2_linear_pagetable", "get_l3_linear_pagetable",
    "get_l4_linear_pagetable", "inc_linear_entries", "inc_linear_uses", "dec_linear_entries",
    "dec_linear_uses", "mod_l1_entry", "mod_l2_entry", "mod_l3_entry", "mod_l4_entry",
    "adjust_guest_l1e", "adjust_guest_l2e", "adjust_guest_l3e", "adjust_guest_l4e",
    "init_xen_l4_slots", "get_page", "put_page", "get_page_light", "put_page_and_type",
    "get_page_from_mfn", "get_page_from_gfn", "put_old_guest_table", "free_domheap_page",
    "scrub_one_page", "do_mmu_update", "do_mmuext_op", "new_guest_cr3",
    "paging_write_guest_entry", "paging_mark_dirty", "guest_remove_page", "populate_physmap",
    "set_gpfn_from_mfn", "getpageframeinfo3", "arch_set_info_guest", "domain_kill",
    "XEN_DOMCTL_SHADOW_OP_CLEAN", "enable_logdirty", "suspend_domain", "write_batch",
    "normalise_pagetable", "write_one_vcpu_basic", "process_page_data", "populate_pfns",
    "x86_pv_localise_page", "pin_pagetables", "page_lock", "domain_shutdown",
    "xc_domain_pause", "put_pt_page",
]


def grep(repo: str, tag: str, pattern: str) -> list[tuple[str, int, str]]:
    out = subprocess.run(["git", "-C", repo, "grep", "-n", "-E", pattern, tag, "--", *PATHS],
                         capture_output=True, text=True, check=False).stdout
    hits = []
    for line in out.splitlines():
        _, path, number, text = line.split(":", 3)
        hits.append((path, int(number), text))
    return hits


def find(repo: str, tag: str, name: str) -> dict[str, Any] | None:
    spec = SPECIAL.get(name, {})
    if "case" in spec:
        hits = grep(repo, tag, rf"^\s*case {re.escape(spec['case'])}:")
    elif "text" in spec:
        hits = grep(repo, tag, spec["text"])
    else:
        symbol = spec.get("symbol", name)
        # A definition: the name at the start of a line or after its return type, with a
        # parameter list, and not a prototype (no `;` on the line).
        hits = [h for h in grep(repo, tag, rf"^([A-Za-z_][A-Za-z0-9_ *]*[ *])?{symbol}\(")
                if not h[2].rstrip().endswith(";") and not h[2].lstrip().startswith("#")]
        hits = hits or grep(repo, tag, rf"#define {symbol}\(")
    if not hits:
        return None
    path, line, _ = sorted(hits, key=lambda h: (not h[0].endswith(".c"), h[0], h[1]))[0]
    return {"file": path, "line": line}


def main(repo: str) -> dict[str, Any]:
    functions: dict[str, Any] = {}
    for name in ENGINE_NAMES:
        entry: dict[str, Any] = {}
        for version, tag in TAGS.items():
            found = find(repo, tag, name)
            if found is None:
                raise SystemExit(f"{name}: not found at {tag}")
            entry[version] = found
        functions[name] = entry
    for name, note in NOT_XEN.items():
        functions[name] = {"not_xen": note}
    return {
        "tags": TAGS,
        "urls": {
            "github": "https://github.com/xen-project/xen/blob/{tag}/{file}#L{line}",
            "xenbits": "https://xenbits.xen.org/gitweb/?p=xen.git;a=blob;f={file};"
                       "hb=refs/tags/{tag}#l{line}",
        },
        "functions": functions,
    }


if __name__ == "__main__":
    json.dump(main(sys.argv[1]), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
