"""Which Xen function decided a step's outcome, read off the engine as it runs the step.

The engine's functions carry Xen's names (get_page_from_l1e, _get_page_type,
normalise_pagetable...). Running a step under `sys.settrace` records, in order, every
engine function that returned the step's error (a negative errno), refused with False
(get_page and friends), or raised a XenError / MigrationFailed. The first function that
produced the error is the one that decided it; the hypercall entry points only pass it
on. Only used once per new finding, never in the search loop.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from .constants import XenError
from .migration import MigrationFailed

ENGINE_DIR = str(Path(__file__).resolve().parent)
# Model functions that stand for a Xen code path under another name.
XEN_NAMES = {
    "mmuext_pin": "do_mmuext_op", "mmuext_unpin": "do_mmuext_op",
    "guest_write": "get_page_from_l1e", "promote_table": "promote_lN_table",
    "guest_remove_page": "guest_remove_page", "restore": "x86_pv_stream_complete",
    "suspend": "write_one_vcpu_basic", "_write_batch": "write_batch",
    "get_page_type": "_get_page_type", "put_page_type": "_put_page_type",
}
# Helpers that return or wrap an error someone else decided (engine/explain.py).
HELPERS = {"fail", "_refused", "explain", "at"}
# What the guest calls: they pass an inner function's error on.
ENTRY_POINTS = {"mmuext_pin", "mmuext_unpin", "do_mmu_update", "new_guest_cr3",
                "guest_remove_page", "get_page_from_gfn", "get_page_and_type_from_mfn",
                "get_page_from_mfn", "restore", "_dispatch"}


def trace_failures(run: Callable[[], Any]) -> tuple[Any, list[tuple[str, str, int]]]:
    """Run `run()` traced: its result, and (kind, function, errno) for every engine
    function that returned a negative errno, refused with False or raised a Xen error,
    in time order."""
    failures: list[tuple[str, str, int]] = []

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        name = frame.f_code.co_name
        if event == "return":
            if isinstance(arg, bool):
                if arg is False and name.startswith("get_"):
                    failures.append(("refused", name, 0))
            elif isinstance(arg, int) and arg < 0:
                failures.append(("rc", name, arg))
        elif event == "exception":
            exc = arg[1]
            if isinstance(exc, XenError | MigrationFailed):
                failures.append(("raised", name, -int(exc.errno)))
        return local

    def tracer(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "call" and frame.f_code.co_filename.startswith(ENGINE_DIR):
            return local
        return None

    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        result = run()
    finally:
        sys.settrace(old)
    return result, failures


def pick(failures: list[tuple[str, str, int]], rc: int) -> str | None:
    """The Xen name of the function that first produced `rc`, looking through entry points
    that only passed a refusal on (get_page() failing makes do_mmuext_op return -EINVAL)."""
    failures = [f for f in failures
                if f[1] not in HELPERS and (f[0] == "refused" or f[2] == rc)]
    for n, (kind, name, _) in enumerate(failures):
        if kind == "refused":
            continue
        if name in ENTRY_POINTS:
            refused = [f for k, f, _ in failures[:n] if k == "refused"]
            if refused:
                return XEN_NAMES.get(refused[0], refused[0])
        return XEN_NAMES.get(name, name)
    refused = [f for k, f, _ in failures if k == "refused"]
    return XEN_NAMES.get(refused[0], refused[0]) if refused else None
