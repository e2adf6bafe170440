"""The explorer's step vocabulary: random steps of the scenario contract, drawn with the
targets, flags and levels that matter to the reference counts and to migration.

PFNs are drawn with a bias towards the ones a walk has already touched (a page table is
built, pinned, unpinned, written: always the same few pages), the rest uniformly.
Everything comes from one `random.Random`, so a seed fixes the sequence of walks.
"""

from __future__ import annotations

import random
from typing import Any

# Entry flags as a PV kernel uses them: a read-only mapping (how page tables are mapped),
# a writable one, the upper-level form, and a superpage (refused by get_page_from_lNe for
# a PV guest, and by normalise_pagetable()).
ENTRY_FLAGS = (["present"], ["present", "rw"], ["present", "rw", "user", "accessed"],
               ["present", "rw", "pse"])
FLAG_WEIGHTS = (4, 4, 3, 1)
INDICES = (0, 1, 2, 256)  # 256: the first of Xen's L4 slots
INDEX_WEIGHTS = (6, 3, 1, 1)
PINS = ("pin_l1", "pin_l2", "pin_l3", "pin_l4")
OPS = ("mmu_update", "pin", "unpin", "new_baseptr", "write", "memory", "migrate")
OP_WEIGHTS = (30, 22, 12, 4, 8, 6, 18)
TOOLSTACKS = ("xl", "pause")


class Vocabulary:
    def __init__(self, pages: int, rng: random.Random, l1_tables: list[int] | None = None
                 ) -> None:
        self.pages = pages
        self.rng = rng
        self.touched: list[int] = []
        # The start state's L1 tables (a linear guest's): a kernel remaps a page there,
        # at the index that maps it, to make it read-only before it becomes a page table.
        self.l1_tables = l1_tables or []

    def reset(self) -> None:
        self.touched = []

    def pfn(self) -> int:
        rng = self.rng
        if self.touched and rng.random() < 0.6:
            return rng.choice(self.touched)
        pfn = rng.randrange(self.pages)
        self.touched.append(pfn)
        return pfn

    def guest_step(self) -> dict[str, Any]:
        rng = self.rng
        op = rng.choices(OPS[:-1], OP_WEIGHTS[:-1])[0]
        if op == "mmu_update" and self.l1_tables and rng.random() < 0.35:
            return self.remap()
        if op == "mmu_update":
            table, index = self.pfn(), rng.choices(INDICES, INDEX_WEIGHTS)[0]
            if rng.random() < 0.15:
                entry: Any = 0
            else:
                entry = {"pfn": self.pfn(),
                         "flags": list(rng.choices(ENTRY_FLAGS, FLAG_WEIGHTS)[0])}
            return {"mmu_update": {"pfn": table, "index": index, "entry": entry}}
        if op == "pin":
            cmd = rng.choices(PINS, (5, 3, 2, 2))[0]
            body: dict[str, Any] = {"cmd": cmd, "pfn": self.pfn()}
            if cmd in ("pin_l2", "pin_l3") and rng.random() < 0.2:
                body["preempt_after"] = 1  # a continuation: the page left PGT_partial
            return {"mmuext": body}
        if op in ("unpin", "new_baseptr"):
            return {"mmuext": {"cmd": op, "pfn": self.pfn()}}
        if op == "write":
            return {"write": {"pfn": self.pfn()}}
        cmd = "decrease_reservation" if rng.random() < 0.6 else "populate_physmap"
        return {"memory": {"cmd": cmd, "pfn": self.pfn()}}

    def remap(self) -> dict[str, Any]:
        """The linear layout maps PFN p at entry p % 512 of L1 number p // 512: change
        that mapping to read-only, back to writable, or clear it."""
        rng = self.rng
        pfn = self.pfn()
        table = self.l1_tables[min(pfn // 512, len(self.l1_tables) - 1)]
        entry: Any = rng.choices((["present"], ["present", "rw"], None), (6, 2, 1))[0]
        entry = 0 if entry is None else {"pfn": pfn, "flags": list(entry)}
        return {"mmu_update": {"pfn": table, "index": pfn % 512, "entry": entry}}

    def migrate_step(self, in_progress: bool, paused: bool) -> dict[str, Any] | None:
        """A migration step that this migration state can take, or None for a guest step."""
        rng = self.rng
        if paused:
            return {"migrate": {"phase": "restore"}}
        if in_progress:
            roll = rng.random()
            if roll < 0.3:
                return {"migrate": {"phase": "round"}}
            if roll < 0.6:
                return {"migrate": {"phase": "suspend"}}
            return None
        if rng.random() >= OP_WEIGHTS[-1] / sum(OP_WEIGHTS):
            return None
        toolstack = rng.choice(TOOLSTACKS)  # contract v2; xl is the default, left unsaid
        if rng.random() < 0.6:
            step: dict[str, Any] = {"migrate": "all"}
            if toolstack != "xl":
                step["toolstack"] = toolstack
            return step
        body: dict[str, Any] = {"phase": "begin"}
        if toolstack != "xl":
            body["toolstack"] = toolstack
        return {"migrate": body}

    def next(self, in_progress: bool, paused: bool) -> dict[str, Any]:
        return self.migrate_step(in_progress, paused) or self.guest_step()
