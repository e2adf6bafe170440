"""PV live migration as libxenguest does it (tools/libs/guest/xg_sr_save.c,
xg_sr_save_x86_pv.c, xg_sr_restore.c, xg_sr_restore_x86_pv.c).

The save side and the restore side run in one process here; PAGE_DATA records go from one
to the other as they are written, so the destination fills in while the live rounds run,
in stream order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import pte as ptes
from .constants import (
    PFINFO_BROKEN,
    PFINFO_LPINTAB,
    PFINFO_LTAB_SHIFT,
    PFINFO_LTABTYPE_MASK,
    PFINFO_XALLOC,
    PFINFO_XTAB,
    PGT,
    Errno,
    XenError,
    pfinfo_level,
    pfinfo_name,
)
from .domain import Domain
from .host import OWNER_FREE, OWNER_GUEST, Host
from .hypercalls import PIN_LEVEL, getpageframeinfo3_batch, mmuext_pin
from .journal import Journal
from .mm import MM
from .packing import small

MAX_BATCH_SIZE = 1024  # xg_sr_save.c
MAX_PIN_BATCH = 1024  # xg_sr_restore_x86_pv.c
# The first round is sent and restored a whole prefix of batches at a time when nothing in
# it can fail or show an order (Migration._send_at_once()); False: batch by batch only.
ROUND_AT_ONCE = True
# normalise_pagetable(): HYPERVISOR_VIRT_START_X86_64 >> L4_PAGETABLE_SHIFT_X86_64, and the
# same of HYPERVISOR_VIRT_END_X86_64, both & 511; entries xen_first..xen_last are cleared.
XEN_FIRST_L4 = 256
XEN_LAST_L4 = 271
NO_TYPE = -1  # restore side: no record for this PFN yet

_PRESENT = np.uint64(1)
_NO_DATA = (PFINFO_XTAB, PFINFO_BROKEN, PFINFO_XALLOC)  # write_batch() sends no page
ACTIONS = ["xtab", "deferred", "raw", "normalised", "lost"]  # a batch note's actions
XTAB_, DEFERRED, RAW, NORMALISED, LOST = range(len(ACTIONS))  # their codes


class _PfinfoNames(dict):
    """pfinfo_name() of any getpageframeinfo3 value, remembered."""

    def __missing__(self, value: int) -> str:
        self[value] = name = pfinfo_name(int(value))
        return name


PFINFO_NAMES = _PfinfoNames()


@dataclass
class RoundStats:
    round: int
    phase: str  # begin | round | suspend | restore
    sent: int = 0
    xtab: int = 0
    normalised: int = 0
    deferred: int = 0
    localised: int = 0
    populated: int = 0
    pinned: int = 0
    lost: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class MigrationFailed(Exception):
    """`fn`: the libxenguest function that gave up; `detail`: the hypercall failure behind
    it, if one (explain.Failure.as_dict())."""

    def __init__(self, errno: Errno, why: str, fn: str | None = None,
                 detail: dict[str, Any] | None = None) -> None:
        super().__init__(why)
        self.errno = errno
        self.why = why
        self.fn = fn
        self.detail = detail

    def explain(self, phase: str) -> str:
        where = f"{self.fn}: " if self.fn else ""
        return f"migrate {phase}: -{self.errno.name}: {where}{self.why}"


@dataclass
class Migration:
    """One migration of the guest from `src` to the other host."""

    src: Domain
    dst: Domain
    patched: bool
    journal: Journal
    state: str = "in_progress"  # in_progress | ok | failed
    phase: str = "begin"  # the last phase run
    rounds: list[RoundStats] = field(default_factory=list)
    error: str | None = None
    toolstack: str = "xl"  # xl | pause: how the guest is stopped for the final pass

    def __post_init__(self) -> None:
        pages = self.src.pages
        self.deferred = np.zeros(pages, np.bool_)
        self.ever_deferred = np.zeros(pages, np.bool_)
        self.last_normalised = np.zeros(pages, np.bool_)
        # The final pass answered EAGAIN (toolstack xl): sent as XTAB, never again.
        self.lost = np.zeros(pages, np.bool_)
        # The round of the last PAGE_DATA record that carried the PFN's contents (0: none).
        self.data_round = np.zeros(pages, np.int64)
        self.pfn_types = np.full(pages, NO_TYPE, np.int64)
        self.cr3_pfn: int | None = None
        self.src_mm = MM(self.src)
        self.dst_mm = MM(self.dst)

    # -- phases ----------------------------------------------------------------------------
    def begin(self) -> None:
        """enable_logdirty(), then round 1 of send_memory_live(): every PFN."""
        self.src.set_flag("log_dirty", True, "enable_logdirty")
        self._send(np.arange(self.src.pages), RoundStats(1, "begin"))

    def live_round(self) -> None:
        """XEN_DOMCTL_SHADOW_OP_CLEAN, then send_dirty_pages() of what it returned.
        Deferred PFNs wait for the final round unless dirtied again."""
        pfns = np.array(self.src.clean_dirty("XEN_DOMCTL_SHADOW_OP_CLEAN"), np.int64)
        self._send(pfns, RoundStats(len(self.rounds) + 1, "round"))

    def suspend(self) -> None:
        """suspend_and_send_dirty(): stop the guest, the final dirty set OR the deferred
        set, then clear the deferred set; then the vCPU context, whose CR3 must be in the
        pseudo-physical map.

        suspend_domain() only asks the guest to shut down with SHUTDOWN_suspend and checks
        that it did; libxl 4.15 never calls xc_domain_pause() on this path, so
        XEN_DOMINF_paused (ctx->dominfo.paused) stays clear under `xl`. `pause` is a tool
        stack that controller-pauses the guest before the final pass."""
        self.src.set_flag("suspended", True, "domain_shutdown (SHUTDOWN_suspend)")
        if self.toolstack == "pause":
            self.src.set_flag("paused", True, "xc_domain_pause")
        dirty = np.zeros(self.src.pages, np.bool_)
        dirty[self.src.clean_dirty("XEN_DOMCTL_SHADOW_OP_CLEAN (final)")] = True
        dirty |= self.deferred
        self._send(np.flatnonzero(dirty), RoundStats(len(self.rounds) + 1, "suspend"))
        self.deferred[:] = False
        if self.src.cr3 is not None:
            pfn = self.src.mfn_to_pfn(self.src.cr3)
            if pfn is None:
                raise MigrationFailed(Errno.ERANGE, f"Bad mfn for cr3: MFN {self.src.cr3} is "
                                      "not in the pseudo-physical map", "write_one_vcpu_basic")
            self.cr3_pfn = pfn
            self.journal.note(kind="migration", event="vcpu", cr3_mfn=self.src.cr3,
                              cr3_pfn=pfn, fn="write_one_vcpu_basic")

    def restore(self) -> None:
        """x86_pv_stream_complete(): update_vcpu_context(), then pin_pagetables()."""
        stats = RoundStats(len(self.rounds) + 1, "restore")
        self.rounds.append(stats)
        if self.cr3_pfn is not None:
            if self.dst.p2m[self.cr3_pfn] < 0:
                self._populate(np.array([self.cr3_pfn]), stats)
            mfn = int(self.dst.p2m[self.cr3_pfn])
            # arch_set_info_guest(): get_page_from_mfn() and get_page_type(root table).
            mm = self.dst_mm
            mm.failure = None
            if not mm.get_page_from_mfn(mfn):
                raise MigrationFailed(Errno.EINVAL, "vCPU context: cr3 frame not the guest's",
                                      "arch_set_info_guest")
            rc = mm.get_page_type(mfn, PGT.l4)
            # A page left to old_guest_table keeps this general reference until the
            # clean-up drops it ("if ( cr3_page == current->arch.old_guest_table )
            # cr3_page = NULL;").
            kept = mfn in self.dst.old_guest_tables
            mm.put_old_guest_table()
            if rc:
                if not kept:
                    mm.put_page(mfn)
                raise self._refused(rc, "arch_set_info_guest", "vCPU context: cr3 pfn "
                                    f"{self.cr3_pfn} refused by get_page_type(root table)")
            self.dst.set_cr3(mfn, "arch_set_info_guest")
        pins = np.flatnonzero((self.pfn_types >= 0) & (self.pfn_types & PFINFO_LPINTAB != 0))
        for start in range(0, len(pins), MAX_PIN_BATCH):
            for pfn in pins[start:start + MAX_PIN_BATCH].tolist():
                level = pfinfo_level(int(self.pfn_types[pfn]))
                if not level:
                    continue
                mfn = int(self.dst.p2m[pfn])
                self.dst_mm.failure = None
                rc = mmuext_pin(self.dst_mm, mfn, PIN_LEVEL[f"pin_l{level}"])
                self.journal.note(kind="migration", event="pin", pfn=pfn, mfn=mfn,
                                  level=level, rc=rc, fn="pin_pagetables")
                if rc:
                    raise self._refused(rc, "pin_pagetables", "Failed to pin batch of "
                                        f"pagetables: L{level} pfn {pfn}")
                stats.pinned += 1

    def _refused(self, rc: int, fn: str, why: str) -> MigrationFailed:
        """A hypercall of the restore side failed: say why, as the engine would for a
        guest's (explain.message())."""
        f = self.dst_mm.failure
        detail = f.as_dict(self.dst.host) if f is not None and f.rc == rc else None
        if detail is not None:
            where = "" if f.index is None else f"entry {f.index} -> "
            target = f"PFN {detail['target_pfn']}" if detail["target_pfn"] is not None \
                else f"MFN {f.target}"
            why += f": {f.fn}({where}{target}) {f.why}"
        return MigrationFailed(Errno(-rc), why, fn, detail)

    # -- the save side ------------------------------------------------------------------------
    def _send(self, pfns: np.ndarray, stats: RoundStats) -> None:
        self.rounds.append(stats)
        done = self._send_at_once(pfns, stats) if ROUND_AT_ONCE else 0
        for start in range(done, len(pfns), MAX_BATCH_SIZE):
            self._write_batch(pfns[start:start + MAX_BATCH_SIZE], stats)

    def _send_at_once(self, pfns: np.ndarray, stats: RoundStats) -> int:
        """write_batch() and process_page_data() of the first round's batches, as many
        whole batches from the start as need nothing done one frame at a time: every
        PFN backed with data, every page table normalised without error, enough free
        (untouched) frames on the destination. The rest go batch by batch. Returns how
        many PFNs were sent.

        The destination populates PFNs in the order they first appear in the stream (each
        batch's PFNs, then the PFNs its page tables name) and records, field by field,
        what the batches would: one delta standing for all of them, placed where the
        first batch's would be, so the step's compacted deltas are the same as batch by
        batch (engine/compact.py merges those). Arrays are int32 and the save side's
        checks go a chunk at a time: a 2^20-page round must not need more memory than
        batch by batch."""
        n = len(pfns)
        if stats.phase != "begin" or n <= MAX_BATCH_SIZE or bool((self.dst.p2m >= 0).any()):
            return 0
        save = self._save_clean(pfns)
        m = save.prefix
        if not m:
            return 0
        stream = _Stream(save, m, self.dst.pages)
        # A populate_pfns() call of one PFN records a single `frame` delta, which merges
        # differently: the prefix stops before the first batch that makes one.
        k = stream.first_single_batch()
        if k is not None:
            if not k:
                return 0
            save.cut(k * MAX_BATCH_SIZE)
            stream.cut(k)
            m = save.prefix
        order = stream.order()
        del stream
        d = self.dst.host
        found = d.find_free(len(order))
        if found is None:
            return 0
        new, cursor = found
        if (d.allocated[new].any() or d.count[new].any() or d.type[new].any()
                or d.type_count[new].any() or d.validated[new].any()):
            return 0  # assign_pages() would change more than owner, PGC_allocated, count
        self._note_batches(save, stats)
        # The restore side. The first batch populates its own PFNs before anything else
        # (none is populated yet), so populate_pfns() comes first; then localise, the
        # PAGE_DATA writes and the writable mappings, each placed where the first batch
        # that has one would put it.
        d._set_cursor(cursor)
        self._assign(order, new, stats)
        del order, new
        self._restore_clean(save, stats)
        return m

    def _save_clean(self, pfns: np.ndarray) -> _CleanSave:
        """The save side of _send_at_once(): getpageframeinfo3 and normalise_pagetable()'s
        checks, a chunk at a time; the prefix of whole batches where nothing fails."""
        src = self.src
        n = len(pfns)
        mfns = src.p2m[pfns].astype(np.int32)
        types = np.full(n, PFINFO_XTAB, np.uint32)
        for c in range(0, n, _CHUNK):
            part = mfns[c:c + _CHUNK]
            backed = part >= 0
            types[c:c + _CHUNK][backed] = getpageframeinfo3_batch(self.src_mm, part[backed],
                                                                  self.patched)
        ok = (mfns >= 0) & ~np.isin(types, np.array(_NO_DATA, np.uint32))
        levels = np.where(ok, (types & PFINFO_LTABTYPE_MASK) >> PFINFO_LTAB_SHIFT, 0
                          ).astype(np.int8)
        tables = np.flatnonzero(levels > 0).astype(np.int32)
        host = src.host
        rows_of = np.stack([host.entries(m) for m in mfns[tables].tolist()]) if len(
            tables) else np.zeros((0, 512), np.uint64)
        rows_of[np.ix_(levels[tables] == 4, np.arange(XEN_FIRST_L4, XEN_LAST_L4 + 1))] = 0
        present = np.flatnonzero((rows_of & _PRESENT) != 0).astype(np.int32)
        rows, cols = present >> 9, (present & 511).astype(np.int16)  # 512 entries a table
        del present
        named = np.empty(len(rows), np.int32)
        bad = np.zeros(len(tables), np.bool_)
        for c in range(0, len(rows), _CHUNK):
            e = rows_of[rows[c:c + _CHUNK], cols[c:c + _CHUNK]]
            got = src.mfns_to_pfns(ptes.mfns_of(e))
            pse = ((e & np.uint64(ptes.FLAG_BITS["pse"])) != 0) & (
                levels[tables[rows[c:c + _CHUNK]]] > 1)
            bad[rows[c:c + _CHUNK][pse | (got < 0) | (got >= self.dst.pages)]] = True
            named[c:c + _CHUNK] = got
        ok[tables[bad]] = False
        first_bad = np.flatnonzero(~ok)
        m = n if not len(first_bad) else int(first_bad[0]) // MAX_BATCH_SIZE * MAX_BATCH_SIZE
        save = _CleanSave(pfns, mfns, types, levels, tables, rows_of, rows, cols, named, n)
        save.cut(m)
        return save

    def _note_batches(self, save: _CleanSave, stats: RoundStats) -> None:
        """write_batch()'s note of every batch of the prefix, and the sender's state."""
        m = save.prefix
        levels = save.levels[:m]
        actions = np.where(levels > 0, NORMALISED, RAW).astype(np.int8)
        pfns32, mfns32, types = small(save.pfns[:m]), save.mfns[:m], save.types[:m]
        for b in range(0, m, MAX_BATCH_SIZE):
            c = slice(b, b + MAX_BATCH_SIZE)
            self.journal.note(kind="migration", event="batch", round=stats.round,
                              phase=stats.phase, pfns=pfns32[c], mfns=mfns32[c],
                              types=types[c], actions=actions[c],
                              _names={"types": PFINFO_NAMES, "actions": ACTIONS},
                              fn="write_batch")
        self.last_normalised[save.pfns[:m]] = levels > 0
        stats.normalised += len(save.tables)
        stats.sent += m

    def _restore_clean(self, save: _CleanSave, stats: RoundStats) -> None:
        """process_page_data() of the prefix once populated: types recorded, tables
        localised, contents written, the writable mappings' types."""
        dst, d, host = self.dst, self.dst.host, self.src.host
        m, tables = save.prefix, save.tables
        levels = save.levels[:m]
        sent, sent_mfns = save.pfns[:m], save.mfns[:m]
        self.pfn_types[sent] = save.types[:m]
        self.data_round[sent] = stats.round
        new_mfns = small(dst.p2m[sent])
        rows_of, rows, cols = save.rows_of, save.rows, save.cols
        for c in range(0, len(rows), _CHUNK):
            r, k = rows[c:c + _CHUNK], cols[c:c + _CHUNK]
            rows_of[r, k] = ptes.with_mfns(rows_of[r, k], dst.p2m[save.named[c:c + _CHUNK]])
        stats.localised += len(tables)
        carried = dict(zip(tables.tolist(), rows_of, strict=True))
        held = np.fromiter(host.contents.keys(), np.int64, len(host.contents))
        for i in np.flatnonzero((levels == 0) & np.isin(sent_mfns, held)).tolist():
            carried[i] = host.contents[int(sent_mfns[i])].copy()  # sent raw
        landed = np.fromiter(d.contents.keys(), np.int64, len(d.contents))
        write = sorted(set(carried) | set(np.flatnonzero(np.isin(new_mfns, landed)).tolist()))
        written = [i for i in write if (i in carried and carried[i].any())
                   or int(new_mfns[i]) in d.contents]  # what write_pages() will name
        nb = -(-m // MAX_BATCH_SIZE)
        first_batch = {
            "localise": int(tables[0]) // MAX_BATCH_SIZE if len(tables) else nb,
            "pages": written[0] // MAX_BATCH_SIZE if written else nb,
            "type": self._first_batch(d.type[new_mfns] != int(PGT.writable), nb),
            "validated": self._first_batch(~d.validated[new_mfns], nb),
        }
        assert not d.type_count[new_mfns].any()
        fn = "process_page_data (writable mapping)"
        in_batch = list(first_batch)
        for what in sorted(first_batch, key=lambda k: (first_batch[k], in_batch.index(k))):
            if what == "localise" and len(tables):
                self.journal.note(kind="migration", event="localise",
                                  pfns=small(sent[tables]), mfns=new_mfns[tables],
                                  levels=levels[tables], fn="x86_pv_localise_page")
            elif what == "pages" and write:
                d.write_pages(new_mfns[write].tolist(), [carried.get(i) for i in write],
                              "process_page_data")
            elif what == "type":
                d.set_many(new_mfns, "type", PGT.writable, fn)
            elif what == "validated":
                d.set_many(new_mfns, "validated", True, fn)

    @staticmethod
    def _first_batch(changes: np.ndarray, none: int) -> int:
        hit = np.flatnonzero(changes)
        return int(hit[0]) // MAX_BATCH_SIZE if len(hit) else none

    def _write_batch(self, pfns: np.ndarray, stats: RoundStats) -> None:
        """write_batch(): P2M lookup, getpageframeinfo3, normalise, PAGE_DATA record.
        Frames that need no work of their own (ballooned, XTAB, data without contents)
        are handled column-wise; page tables and pages with contents one by one, in
        order, so that a failure stops at the same PFN as in libxenguest."""
        src = self.src
        paused = src.paused  # ctx->dominfo.paused: XEN_DOMINF_paused, nothing else
        live = not (src.suspended or src.paused)
        mfns = src.p2m[pfns]
        types = np.full(len(pfns), PFINFO_XTAB, np.int64)
        backed = mfns >= 0
        types[backed] = getpageframeinfo3_batch(self.src_mm, mfns[backed], self.patched)
        levels = np.where(backed & ~np.isin(types, _NO_DATA),
                          (types & PFINFO_LTABTYPE_MASK) >> PFINFO_LTAB_SHIFT, 0)
        has_data = backed & ~np.isin(types, _NO_DATA)
        contents = np.fromiter(src.host.contents.keys(), np.int64, len(src.host.contents))
        held = np.isin(mfns[has_data & (levels == 0)], contents)
        own_work = levels > 0
        own_work[np.flatnonzero(has_data & (levels == 0))[held]] = True
        actions = np.full(len(pfns), XTAB_, np.int8)
        actions[~backed] = DEFERRED  # "Likely a ballooned page": deferred, and XTAB
        simple = has_data & ~own_work  # data without contents: sent raw, nothing to do
        actions[simple] = RAW
        pages: list[np.ndarray | None] = [None] * len(pfns)
        tables = np.flatnonzero(levels > 0)
        normalised = self._normalise_many(mfns[tables], levels[tables], paused)
        if normalised is not None:
            # No table of the batch fails: all are normalised at once, as one by one.
            for k, i in enumerate(tables.tolist()):
                pages[i] = normalised[k]
            actions[tables] = NORMALISED
            self.last_normalised[pfns[tables]] = True
            own_work[tables] = False
        done = len(pfns)
        try:
            for i in np.flatnonzero(own_work).tolist():
                done = i
                self._one_page(i, int(pfns[i]), int(mfns[i]), int(types[i]), int(levels[i]),
                               types, actions, pages, stats, paused, live)
            done = len(pfns)
        finally:
            # What libxenguest did for the simple frames before the one it stopped at.
            upto = np.arange(len(pfns)) < done
            self._defer_many(pfns[upto & ~backed], live)
            self.last_normalised[pfns[upto & simple]] = False
            stats.normalised += int(np.count_nonzero(actions[upto] == NORMALISED))
        counts = np.bincount(actions, minlength=len(ACTIONS))
        stats.sent += int(counts[RAW] + counts[NORMALISED])
        stats.xtab += int(counts[XTAB_] + counts[DEFERRED] + counts[LOST])
        stats.deferred += int(counts[DEFERRED])
        # Codes here, names when the journal packs the note (it keeps one per page).
        self.journal.note(kind="migration", event="batch", round=stats.round,
                          phase=stats.phase, pfns=small(pfns), mfns=small(mfns),
                          types=types.astype(np.uint32), actions=actions,
                          _names={"types": PFINFO_NAMES, "actions": ACTIONS},
                          fn="write_batch")
        self.process_page_data(pfns, types, pages, stats)

    def _one_page(self, i: int, pfn: int, mfn: int, info: int, level: int,
                  types: np.ndarray, actions: np.ndarray, pages: list[np.ndarray | None],
                  stats: RoundStats, paused: bool, live: bool) -> None:
        """A page table (normalised), or a page with contents (sent raw)."""
        src = self.src
        if not level:
            pages[i] = src.host.contents[mfn].copy()
            actions[i] = RAW
            self.last_normalised[pfn] = False
            return
        try:
            pages[i] = self.normalise_pagetable(src.host.entries(mfn), level, paused)
        except XenError as err:
            if err.errno == Errno.EAGAIN:
                self._defer(pfn, live)
                types[i] = PFINFO_XTAB
                if not live:
                    # The final pass: suspend_and_send_dirty() clears the deferred
                    # bit after this batch and nothing sends the page again.
                    self._lose(pfn, mfn, level, err.why, stats)
                    actions[i] = LOST
                    return
                actions[i] = DEFERRED
                self.journal.note(kind="migration", event="defer", pfn=pfn, mfn=mfn,
                                  why=err.why, fn="normalise_pagetable")
                return
            raise MigrationFailed(err.errno, f"pfn {pfn} (mfn {mfn}): {err.why}",
                                  "normalise_pagetable") from err
        actions[i] = NORMALISED
        self.last_normalised[pfn] = True

    def _normalise_many(self, mfns: np.ndarray, levels: np.ndarray,
                        paused: bool) -> np.ndarray | None:
        """normalise_pagetable() of several tables at once (one row each), or None if
        any of them would fail: the caller then goes one by one."""
        if not len(mfns):
            return None
        host = self.src.host
        rows_of = np.stack([host.entries(m) for m in mfns.tolist()])
        rows_of[np.ix_(levels == 4, np.arange(XEN_FIRST_L4, XEN_LAST_L4 + 1))] = 0
        rows, cols = np.nonzero(rows_of & _PRESENT)
        e = rows_of[rows, cols]
        pfns = self.src.mfns_to_pfns(ptes.mfns_of(e))
        pse = ((e & np.uint64(ptes.FLAG_BITS["pse"])) != 0) & (levels[rows] > 1)
        if (pse | (pfns < 0)).any():
            return None
        rows_of[rows, cols] = ptes.with_mfns(e, pfns)
        return rows_of

    def _defer_many(self, pfns: np.ndarray, live: bool) -> None:
        self.deferred[pfns] = True
        if live:
            self.ever_deferred[pfns] = True

    def _defer(self, pfn: int, live: bool) -> None:
        self.deferred[pfn] = True
        if live:
            self.ever_deferred[pfn] = True

    def _lose(self, pfn: int, mfn: int, level: int, why: str, stats: RoundStats) -> None:
        """The page's final contents stay behind: the destination keeps the copy of round
        `kept_round`, if any, and pin_pagetables() will not see it (its type is XTAB)."""
        self.lost[pfn] = True
        stats.lost += 1
        kept = int(self.data_round[pfn])
        self.journal.note(kind="migration", event="lost", pfn=pfn, mfn=mfn, level=level,
                          why=why, kept_round=kept or None, fn="normalise_pagetable")

    def normalise_pagetable(self, src: np.ndarray, level: int, paused: bool) -> np.ndarray:
        """normalise_pagetable(): Xen's L4 slots cleared, every present entry's MFN turned
        into a PFN; an MFN outside the pseudo-physical map is EAGAIN unless
        ctx->dominfo.paused (the controller's pause, not the guest's suspension), then
        ERANGE. The first entry at fault (in entry order) is the one reported."""
        dst = src.copy()
        if level == 4:
            dst[XEN_FIRST_L4:XEN_LAST_L4 + 1] = 0
        idx = np.flatnonzero(dst & _PRESENT)
        e = dst[idx]
        pfns = self.src.mfns_to_pfns(ptes.mfns_of(e))
        pse = (e & np.uint64(ptes.FLAG_BITS["pse"])) != 0 if level > 1 else \
            np.zeros(len(e), np.bool_)
        bad = pse | (pfns < 0)
        if bad.any():
            k = int(np.argmax(bad))
            i = int(idx[k])
            if pse[k]:
                raise XenError(Errno.E2BIG, f"Cannot migrate superpage (L{level}[{i}])")
            raise XenError(Errno.ERANGE if paused else Errno.EAGAIN,
                           f"Bad mfn for L{level}[{i}]: mfn {ptes.mfn_of(int(e[k]))} not in "
                           "the pseudo-physical map")
        dst[idx] = ptes.with_mfns(e, pfns)
        return dst

    # -- the restore side -------------------------------------------------------------------
    def process_page_data(self, pfns: np.ndarray, types: np.ndarray,
                          pages: list[np.ndarray | None], stats: RoundStats) -> None:
        """process_page_data(): populate the batch, record types (the last record for a
        PFN wins), localise page tables, write the contents through writable mappings."""
        with_data = np.flatnonzero(~np.isin(types, (PFINFO_XTAB, PFINFO_BROKEN)))
        batch = pfns[with_data]
        self._populate(batch[self.dst.p2m[batch] < 0], stats)
        self.pfn_types[pfns] = types
        self.data_round[batch] = stats.round
        levels = np.where(np.isin(types, _NO_DATA), 0,
                          (types & PFINFO_LTABTYPE_MASK) >> PFINFO_LTAB_SHIFT)
        carried = np.zeros(len(pages), np.bool_)
        carried[[i for i in with_data.tolist() if pages[i] is not None]] = True
        tables = with_data[carried[with_data] & (levels[with_data] > 0)]
        if not self._localise_many(pfns, tables, levels, pages, stats):
            self._localise_one_by_one(pfns, tables, levels, pages, stats)
        # Only pages with contents, or landing on a frame that has some, need writing.
        dst_contents = self.dst.host.contents
        held = np.fromiter(dst_contents.keys(), np.int64, len(dst_contents))
        landing = np.isin(self.dst.p2m[pfns], held)
        write = with_data[carried[with_data] | landing[with_data]]
        self.dst.host.write_pages(self.dst.p2m[pfns[write]].tolist(),
                                  [pages[i] for i in write.tolist()], "process_page_data")
        self._written_through_writable_mappings(small(self.dst.p2m[batch]))

    def _localise_many(self, pfns: np.ndarray, tables: np.ndarray, levels: np.ndarray,
                       pages: list[np.ndarray | None], stats: RoundStats) -> bool:
        """x86_pv_localise_page() of every table of the batch at once: the PFNs first
        seen populated in the order one by one would meet them (table, then entry),
        in one populate_pfns(). False, having changed nothing, if one by one would
        fail part way (a PFN beyond the P2M, too few free frames)."""
        if not len(tables):
            return True
        stacked = np.stack([pages[i] for i in tables.tolist()])
        rows, cols = np.nonzero(stacked & _PRESENT)
        named = ptes.mfns_of(stacked[rows, cols])  # normalised: frame numbers are PFNs
        if np.any(named >= self.dst.pages):
            return False
        missing = named[self.dst.p2m[named] < 0]
        if len(missing):
            uniq, first = np.unique(missing, return_index=True)
            if not self._populate(uniq[np.argsort(first)], stats, or_none=True):
                return False
        stacked[rows, cols] = ptes.with_mfns(stacked[rows, cols], self.dst.p2m[named])
        for k, i in enumerate(tables.tolist()):
            pages[i] = stacked[k]
        stats.localised += len(tables)
        self.journal.note(kind="migration", event="localise", pfns=small(pfns[tables]),
                          mfns=small(self.dst.p2m[pfns[tables]]),
                          levels=levels[tables].astype(np.int8), fn="x86_pv_localise_page")
        return True

    def _localise_one_by_one(self, pfns: np.ndarray, tables: np.ndarray,
                             levels: np.ndarray, pages: list[np.ndarray | None],
                             stats: RoundStats) -> None:
        for i in tables.tolist():
            pfn, level = int(pfns[i]), int(levels[i])
            pages[i] = self.localise_page(pages[i], stats)
            stats.localised += 1
            self.journal.note(kind="migration", event="localise", pfn=pfn,
                              mfn=int(self.dst.p2m[pfn]), level=level,
                              fn="x86_pv_localise_page")

    def localise_page(self, page: np.ndarray, stats: RoundStats) -> np.ndarray:
        """x86_pv_localise_page(): PFN -> MFN for every present entry, populating PFNs
        first seen here."""
        present = np.flatnonzero(page & _PRESENT)
        pfns = ptes.mfns_of(page[present])  # normalised: frame numbers are PFNs
        if np.any(pfns >= self.dst.pages):
            raise MigrationFailed(Errno.ERANGE, "pfn beyond the guest's P2M",
                                  "x86_pv_localise_page")
        missing = pfns[self.dst.p2m[pfns] < 0]
        if len(missing):
            # In entry order, each once (populate_pfns() of what it has not seen).
            uniq, first = np.unique(missing, return_index=True)
            self._populate(uniq[np.argsort(first)], stats)
        out = page.copy()
        out[present] = ptes.with_mfns(page[present], self.dst.p2m[pfns])
        return out

    def _populate(self, pfns: np.ndarray, stats: RoundStats, or_none: bool = False) -> bool:
        """populate_pfns(): xc_domain_populate_physmap_exact() in this order. With
        `or_none`, too few free frames return False (nothing changed) instead."""
        if not len(pfns):
            return True
        host = self.dst.host
        mfns = host.alloc_frames(len(pfns))
        if mfns is None:
            if or_none:
                return False
            raise MigrationFailed(Errno.ENOMEM, f"Failed to populate {len(pfns)} pfns: the "
                                  f"{host.name} host has too few free frames", "populate_pfns")
        self._assign(pfns, mfns, stats)
        return True

    def _assign(self, pfns: np.ndarray, mfns: np.ndarray, stats: RoundStats) -> None:
        """The frames populate_pfns() got, given to the PFNs: assign_pages(), the M2P
        (set_gpfn_from_mfn()) and the P2M."""
        host = self.dst.host
        # One copy of each array serves the M2P and the P2M deltas.
        mfns32, pfns32 = np.asarray(mfns, np.int32), np.asarray(pfns, np.int32)
        host.assign(mfns32, "populate_physmap")
        host.set_m2p_many(mfns32, pfns32, "set_gpfn_from_mfn")
        self.dst.set_p2m_many(pfns32, mfns32, "populate_pfns")
        stats.populated += len(pfns)

    def _written_through_writable_mappings(self, mfns: np.ndarray) -> None:
        """The tool stack writes through writable foreign mappings: each frame takes a
        PGT_writable_page type reference and drops it, so it ends writable, count 0."""
        host = self.dst.host
        assert not host.type_count[mfns].any()
        fn = "process_page_data (writable mapping)"
        host.set_many(mfns, "type", PGT.writable, fn)
        host.set_many(mfns, "validated", True, fn)


_CHUNK = 1 << 16  # the save side's checks go this many frames at a time


@dataclass
class _CleanSave:
    """What the save side of Migration._send_at_once() found, cut to `prefix` PFNs: their
    MFNs, getpageframeinfo3 types and levels; the tables among them (positions) with
    their source entries, and every present entry's (table row, index, PFN named)."""

    pfns: np.ndarray
    mfns: np.ndarray
    types: np.ndarray
    levels: np.ndarray
    tables: np.ndarray
    rows_of: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    named: np.ndarray
    prefix: int

    def cut(self, m: int) -> None:
        """Keep the first `m` PFNs (whole batches) and the tables among them."""
        self.prefix = m
        t = int(np.searchsorted(self.tables, m))
        r = int(np.searchsorted(self.rows, t))
        self.tables, self.rows_of = self.tables[:t], self.rows_of[:t]
        self.rows, self.cols, self.named = self.rows[:r], self.cols[:r], self.named[:r]


class _Stream:
    """The order PFNs come in the first round's stream: batch b's PFNs, then the PFNs
    named by its tables (table, then entry), with `seen` marking each PFN's first
    appearance: populate_pfns() takes PFNs in that order."""

    def __init__(self, save: _CleanSave, m: int, pages: int) -> None:
        own = np.arange(m, dtype=np.int32)
        self.row_batch = (save.tables[save.rows] // MAX_BATCH_SIZE).astype(np.int32)
        nb = -(-m // MAX_BATCH_SIZE)
        self.named_before = np.searchsorted(self.row_batch, np.arange(nb + 1)).astype(np.int32)
        own_pos = own + self.named_before[own // MAX_BATCH_SIZE]
        r = len(save.rows)
        named_pos = np.arange(r, dtype=np.int32) + np.minimum(
            (self.row_batch + 1) * MAX_BATCH_SIZE, m).astype(np.int32)
        sent, named = save.pfns[:m], save.named
        self.stream = np.empty(m + r, np.int32)
        self.stream[own_pos] = sent
        self.stream[named_pos] = named
        first = np.full(pages, m + r, np.int32)
        first[sent] = own_pos  # the PFNs of the first round are all different
        np.minimum.at(first, named, named_pos)  # a PFN may be named more than once
        self.seen = np.zeros(m + r, np.bool_)
        self.seen[own_pos] = first[sent] == own_pos
        self.seen[named_pos] = first[named] == named_pos
        # PFNs first seen per batch, among its own and among those its tables name.
        own_seen = np.zeros(nb * MAX_BATCH_SIZE, np.int32)
        own_seen[:m] = self.seen[own_pos]
        self.own_new = own_seen.reshape(nb, MAX_BATCH_SIZE).sum(axis=1)
        named_seen = np.concatenate(([0], np.cumsum(self.seen[named_pos], dtype=np.int64)))
        self.named_new = named_seen[self.named_before[1:]] - named_seen[self.named_before[:-1]]

    def first_single_batch(self) -> int | None:
        single = np.flatnonzero((self.own_new == 1) | (self.named_new == 1))
        return int(single[0]) if len(single) else None

    def cut(self, k: int) -> None:
        """Keep the first `k` batches."""
        end = k * MAX_BATCH_SIZE + int(self.named_before[k])
        self.stream, self.seen = self.stream[:end], self.seen[:end]

    def order(self) -> np.ndarray:
        return self.stream[self.seen]


def destroy_domain(dom: Domain, fn: str) -> None:
    """domain_kill(): every frame the domain owns returns to the free pool. The end state
    of relinquish_memory() is modelled, not its order."""
    host: Host = dom.host
    mfns = small(np.flatnonzero(host.owner == OWNER_GUEST))
    for name, value in (("pinned", False), ("validated", False), ("partial", False),
                        ("type_count", 0), ("count", 0), ("allocated", False),
                        ("type", PGT.none), ("nr_validated_ptes", 0),
                        ("linear_pt_count", 0), ("owner", OWNER_FREE)):
        host.set_many(mfns, name, value, fn)
    host.clear_contents_many(mfns, fn)
    host.note_freed_many(mfns)
    if dom.cr3 is not None:
        dom.set_cr3(None, fn)
    backed = np.flatnonzero(dom.p2m >= 0)
    if len(backed):
        dom.set_p2m_many(backed, np.broadcast_to(np.int32(-1), backed.shape), fn)
    dom.set_flag("log_dirty", False, fn)
    dom.set_flag("paused", False, fn)
    dom.set_flag("suspended", False, fn)
