"""A few migration properties at the engine level (libxenguest: xg_sr_save.c,
xg_sr_save_x86_pv.c, xg_sr_restore_x86_pv.c, Xen 4.15)."""

from __future__ import annotations

from engine.packing import unpack


def test_restore_rebuilds_the_tree_pins_and_base_pointer(make):
    """x86_pv_stream_complete(): update_vcpu_context() takes the base pointer's
    references (validating the tree), pin_pagetables() pins every LPINTAB PFN; data pages
    get their writable type refs back from the validated L1."""
    g = make(xen="unpatched")
    g.ok({"migrate": "all"})
    assert g.w.guest_host == "destination"
    f0 = g.frame(0)
    assert (f0["type"], f0["pinned"], f0["validated"], f0["type_count"]) == ("l4", True, True, 2)
    assert g.w.guest.cr3 == g.mfn(0)
    for pfn, typ in ((1, "l3"), (2, "l2"), (3, "l1")):
        assert (g.frame(pfn)["type"], g.frame(pfn)["validated"]) == (typ, True)
    assert (g.frame(40)["type"], g.frame(40)["type_count"]) == ("writable", 1)
    src = g.w.hosts["source"]
    assert src.free_frames() == 1024 - 256  # the source domain is gone




def _batches(event):
    """The PAGE_DATA records of a migrate step, split out of each round's batch note."""
    out = []
    for d in event["deltas"]:
        if d.get("kind") == "migration" and d.get("event") == "batch":
            arrays = {k: unpack(d[k]) for k in ("pfns", "mfns", "types", "actions")}
            start = 0
            for n in unpack(d["sizes"]):
                out.append({"round": d["round"], **{k: v[start:start + n]
                                                    for k, v in arrays.items()}})
                start += n
            assert start == len(arrays["pfns"]) and d["batches"] == len(unpack(d["sizes"]))
    return out


def test_round_one_sends_every_pfn_in_batches_of_1024(make):
    """send_memory_live() round 1 sends every PFN; write_batch() takes up to
    MAX_BATCH_SIZE (1024) PFNs in ascending order."""
    g = make(pages=2500, source={"frames": 4096}, destination={"frames": 4096})
    event = g.ok({"migrate": "begin"})
    sizes = [len(b["pfns"]) for b in _batches(event)]
    assert sizes == [1024, 1024, 452]
    pfns = [p for b in _batches(event) for p in b["pfns"]]
    assert pfns == list(range(2500))


def test_destination_allocates_a_whole_batch_before_localising(make):
    """process_page_data(): populate_pfns() for the batch first, in PFN order; so with an
    ascending allocator PFN p lands on the p-th free frame of the destination."""
    g = make(xen="unpatched", destination={"frames": 1024, "alloc": "descending"})
    g.ok({"migrate": "all"})
    assert [g.mfn(p) for p in (0, 1, 63)] == [1023, 1022, 960]


def test_localise_populates_pfns_first_seen_in_a_pte(make):
    """x86_pv_localise_page(): a PFN named by a normalised PTE and not yet populated is
    populated then, before its own PAGE_DATA record arrives."""
    g = make(xen="unpatched", pages=1100, source={"frames": 2048},
             destination={"frames": 2048})
    # The kernel's L1s map every PFN, so localising the first L1 (PFN 3, batch 1) needs
    # PFNs 1024..1099 too: they are populated right after batch 1's own PFNs.
    g.ok({"migrate": "begin"})
    dst = g.w.migration.dst
    first_free = 128
    assert int(dst.p2m[1023]) == first_free + 1023
    assert int(dst.p2m[1024]) == first_free + 1024


def test_ballooned_pfn_is_deferred_sent_as_xtab_and_not_populated(g):
    """write_batch(): an INVALID_MFN P2M entry ("likely a ballooned page") is deferred and
    typed XTAB; populate_pfns() skips XTAB, so the destination has no frame for it."""
    g.ok({"mmu_update": {"pfn": 3, "index": 40, "entry": 0}})
    g.ok({"memory": {"cmd": "decrease_reservation", "pfn": 40}})
    event = g.ok({"migrate": "begin"})
    (batch,) = _batches(event)
    assert (batch["types"][40], batch["actions"][40]) == ("XTAB", "deferred")
    g.check(migration="in_progress", deferred=[40])
    g.ok({"migrate": "suspend"})
    g.ok({"migrate": "restore"})
    assert g.w.guest_host == "destination" and int(g.w.guest.p2m[40]) == -1


def test_deferred_pfn_waits_for_the_final_round(make):
    """send_memory_live() never re-sends deferred_pages; suspend_and_send_dirty() ORs them
    into the final round."""
    g = make(xen="unpatched")
    g.build_l2_over_l1()
    g.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    g.ok({"mmuext": {"cmd": "unpin", "pfn": 20}})
    g.ok({"mmu_update": {"pfn": 3, "index": 30, "entry": 0}})
    g.ok({"memory": {"cmd": "decrease_reservation", "pfn": 30}})
    event = g.ok({"migrate": {"phase": "begin", "toolstack": "pause"}})
    (batch,) = _batches(event)
    assert batch["actions"][21] == "deferred"  # the L1 still names the freed frame
    assert batch["actions"][30] == "deferred"  # ballooned
    event = g.ok({"migrate": "round"})
    assert _batches(event) == []  # nothing dirty, and the deferred L1 is not re-sent
    event = g.apply({"migrate": "suspend"})
    assert event["result"] == "failed" and event["errno"] == "ERANGE"
    assert g.w.guest_host == "source" and not g.w.guest.paused and not g.w.guest.log_dirty
    assert not g.w.guest.suspended


def test_dirty_pages_are_resent_in_the_next_round(g):
    """Log-dirty: an mmu_update dirties the table it writes; XEN_DOMCTL_SHADOW_OP_CLEAN
    hands the bitmap to the next round and clears it."""
    g.ok({"migrate": "begin"})
    g.ok({"mmu_update": {"pfn": 3, "index": 40, "entry": {"pfn": 40, "flags": ["present"]}}})
    event = g.ok({"migrate": "round"})
    (batch,) = _batches(event)
    assert batch["pfns"] == [3]
    assert _batches(g.ok({"migrate": "round"})) == []


def test_pin_pass_pins_lpintab_pfns_in_ascending_order(make):
    """pin_pagetables(): every PFN whose recorded type has LPINTAB, ascending."""
    g = make(xen="unpatched")
    g.make_ro(20, 21)
    g.ok({"mmuext": {"cmd": "pin_l2", "pfn": 20}})
    g.ok({"mmuext": {"cmd": "pin_l1", "pfn": 21}})
    event = g.ok({"migrate": "all"})
    pins = [(d["pfn"], d["level"]) for d in event["deltas"]
            if d.get("kind") == "migration" and d.get("event") == "pin"]
    assert pins == [(0, 4), (20, 2), (21, 1)]
    assert g.frame(20)["pinned"] and g.frame(21)["pinned"]


def test_round_statistics(make):
    """Per round: pages sent, normalised, deferred, localised, populated, pinned."""
    g = make(xen="unpatched")
    g.ok({"migrate": "all"})
    stats = [r.as_dict() for r in g.w.migration.rounds]
    assert [s["phase"] for s in stats] == ["begin", "round", "suspend", "restore"]
    assert stats[0] | {"round": 1} == {"round": 1, "phase": "begin", "sent": 64, "xtab": 0,
                                         "normalised": 4, "deferred": 0, "localised": 4,
                                         "populated": 64, "pinned": 0, "lost": 0}
    assert stats[3]["pinned"] == 1


def test_the_guest_can_migrate_back(make):
    """A second migration goes from the destination back to the source host."""
    g = make(xen="unpatched")
    g.ok({"migrate": "all"})
    assert g.w.guest_host == "destination"
    g.ok({"migrate": "all"})
    assert g.w.guest_host == "source"
    assert g.frame(0)["pinned"] and g.w.hosts["destination"].free_frames() == 1024 - 128


def test_phases_out_of_order_are_invalid(g):
    g.invalid({"migrate": "round"})
    g.ok({"migrate": "begin"})
    g.invalid({"migrate": "begin"})
    g.invalid({"migrate": "restore"})
    g.ok({"migrate": "suspend"})
    g.invalid({"mmuext": {"cmd": "unpin", "pfn": 0}})  # the guest is paused
    g.ok({"migrate": "restore"})


def test_a_pfn_on_the_old_host_names_the_frame_it_had_there(make):
    """`frame: {pfn: N, on: source}` after a migration resolves through the P2M the
    destroyed source domain had: the frame is free again."""
    g = make(xen="unpatched")
    old_mfn = g.mfn(20)
    g.ok({"migrate": "all"})
    event = g.check(frame={"pfn": 20, "on": "source"}, owner="free", count=0)
    assert "pfn 20 on source" in event["assertions"][0]["what"]
    assert g.w.hosts["source"].owner_name(old_mfn) == "free"


def test_bulk_l1_validation_ends_where_entry_by_entry_does(make, monkeypatch):
    """promote_l1_table() takes a large L1's references in bulk when every entry passes;
    the state must be the one the entry-by-entry path reaches."""
    import engine.mm as mm

    def migrated(bulk: int):
        monkeypatch.setattr(mm, "BULK_L1_ENTRIES", bulk)
        g = make(xen="unpatched", pages=1100, source={"frames": 2048},
                 destination={"frames": 2048})
        # PFN 700 is mapped by the second kernel L1 (PFN 4) at index 188: make it read-only.
        g.ok({"mmu_update": {"pfn": 4, "index": 188,
                             "entry": {"pfn": 700, "flags": ["present"]}}})
        g.ok({"mmu_update": {"pfn": 3, "index": 9, "entry": 0}})
        g.ok({"migrate": "all"})
        return g.w.hosts["destination"]

    bulk, single = migrated(128), migrated(10**6)
    for field in ("owner", "count", "type", "type_count", "validated", "pinned", "m2p"):
        assert (getattr(bulk, field) == getattr(single, field)).all(), field
    assert bulk.contents.keys() == single.contents.keys()
    for mfn, page in bulk.contents.items():
        assert (page == single.contents[mfn]).all(), mfn
