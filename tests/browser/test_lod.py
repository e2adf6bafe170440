"""The zoomable view of a large guest (static/js/lod.js, lodview.js, viewport.js,
minimap.js): blocks of 512 PFNs by majority type when zoomed out, single cells when zoomed
in, and a minimap that follows the view."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from conftest import Server, screenshot
from playwright.sync_api import expect

from engine.packing import unpack
from engine.session import unpacked_snapshot

pytestmark = pytest.mark.browser

PAGES = 1 << 17
GRID = "document.querySelector('[data-testid=grid-guest]')"
TYPE_COLOURS = {"none": "#ffffff", "writable": "#56b4e9", "l1": "#009e73", "l2": "#e69f00",
                "l3": "#cc79a7", "l4": "#0072b2", "seg_desc": "#f0e442", "shared": "#d55e00"}


@pytest.fixture(scope="module")
def large(server: Server) -> tuple[str, dict[str, Any]]:
    """A 2^17-page linear guest (its page tables in the first blocks) and its snapshot
    (answered packed: its plain form passes max_snapshot_bytes, docs/protocol.md)."""
    frames = PAGES + PAGES // 8 + 4096
    scenario = {"name": "lod", "guest": {"pages": PAGES, "layout": "linear"},
                "hosts": {"source": {"frames": frames}, "destination": {"frames": frames}}}
    session = server.api("POST", "/api/sessions", {"scenario": scenario})["id"]
    return session, unpacked_snapshot(server.api("GET", f"/api/sessions/{session}"))


def type_of(snap: dict[str, Any], pfn: int) -> str:
    host = snap["hosts"][snap["guest"]["host"]]
    mfn = snap["guest"]["p2m"][pfn]
    return snap["types"][host["type"][mfn]]


def pixel(page: Any, x: float, y: float) -> str:
    """The colour the guest grid shows at canvas point (x, y), as #rrggbb."""
    return page.evaluate(f"""([x, y]) => {{
        const c = {GRID}; const k = c.width / c.clientWidth;
        const d = c.getContext('2d').getImageData(Math.round(x * k), Math.round(y * k), 1, 1).data;
        return '#' + [d[0], d[1], d[2]].map(v => v.toString(16).padStart(2, '0')).join(''); }}""",
                         [x, y])


def settled(page: Any) -> None:
    page.wait_for_function(f"() => {GRID}.dataset.pending === '0'")


def minimap_view(page: Any) -> str:
    return page.get_by_test_id("minimap").get_attribute("data-view")


def test_zoomed_out_blocks_show_the_majority_type(open_page: Any,
                                                  large: tuple[str, dict[str, Any]]) -> None:
    session, snap = large
    page = open_page(session, viewport={"width": 1024, "height": 768})
    settled(page)
    assert page.evaluate(f"{GRID}.dataset.lod") == "blocks"
    # block 0 holds the page tables, block 100 data pages: their majority from the server
    for block in (0, 100):
        majority = Counter(type_of(snap, p) for p in range(block * 512, block * 512 + 512))
        want = majority.most_common(1)[0][0]
        centre = page.evaluate(f"""b => {{ const v = {GRID}.pvLod;
            const x = (b % v.columns) * 32 + 16, y = Math.floor(b / v.columns) * 16 + 8;
            return v.vp.toCanvas(x, y); }}""", block)
        assert page.evaluate(f"b => {GRID}.pvLod.model.majority[b]", block) == \
            snap["types"].index(want)
        assert pixel(page, centre["x"], centre["y"]) == TYPE_COLOURS[want]
    # block 0's marks: it holds page tables, all validated, nothing lost
    assert page.evaluate(f"{GRID}.pvLod.model.marks[0]") == 1
    screenshot(page, "lod-zoomed-out-1024")
    # a host of over 16384 frames gets blocks of 512 MFNs: its last ones are free
    page.get_by_test_id("view-source").click()
    source = "document.querySelector('[data-testid=grid-source]')"
    page.wait_for_function(f"() => {source}.dataset.lod === 'blocks' && "
                           f"{source}.dataset.pending === '0'")
    host = snap["hosts"]["source"]
    last = (host["frames"] - 1) // 512
    assert host["owners"][host["owner"][last * 512]] == "free"
    assert page.evaluate(f"b => {source}.pvLod.model.majority[b]", last) == len(snap["types"])
    # block 0: the class most of its MFNs have (another domain's: one past free)
    owners = Counter(host["owners"][o] for o in host["owner"][:512])
    top = owners.most_common(1)[0][0]
    assert top not in ("guest", "free")   # the hosts reserve their first frames
    assert page.evaluate(f"{source}.pvLod.model.majority[0]") == len(snap["types"]) + 1


def test_zooming_in_reaches_single_cells_and_the_minimap_follows(
        open_page: Any, large: tuple[str, dict[str, Any]]) -> None:
    session, snap = large
    page = open_page(session, viewport={"width": 1024, "height": 768})
    settled(page)
    assert not page.get_by_test_id("minimap").is_visible()   # all in view: no minimap
    box = page.get_by_test_id("grid-guest").bounding_box()
    page.mouse.move(box["x"] + 4, box["y"] + 3)   # over the first block: the page tables
    for _ in range(12):
        page.mouse.wheel(0, -240)
    page.wait_for_function(f"() => {GRID}.dataset.lod === 'cells' && "
                           f"Number({GRID}.dataset.scale) >= 10")
    expect(page.get_by_test_id("minimap")).to_be_visible()
    x0, y0, w0, h0 = map(float, minimap_view(page).split(","))
    map_box = page.get_by_test_id("minimap").bounding_box()
    assert w0 < map_box["width"] / 4 and h0 < map_box["height"] / 4   # a small part in view
    # the cell under a point has the type the server gives its PFN, and a click inspects it
    x, y = 50, 40
    pfn = page.evaluate(f"""([x, y]) => {{ const v = {GRID}.pvLod; const c = v.vp.toCell(x, y);
        return c.y * 0 + (Math.floor(c.y / 16) * v.columns + Math.floor(c.x / 32)) * 512
               + (c.y % 16) * 32 + c.x % 32; }}""", [x, y])
    # a point inside the cell, clear of its letter: the type's colour (outline aside)
    corner = page.evaluate(f"""p => {{ const v = {GRID}.pvLod; const r = v.cellRect(p);
        return {{x: r.x + r.size * 0.85, y: r.y + r.size * 0.5}}; }}""", pfn)
    assert pixel(page, corner["x"], corner["y"]) == TYPE_COLOURS[type_of(snap, pfn)]
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_function(
        "p => document.querySelector('[data-testid=inspector-title]')"
        "?.textContent.includes(`PFN ${p}`)", arg=pfn)
    screenshot(page, "lod-zoomed-in-1024")
    # a drag pans the view (and is no click), the keys zoom out again to the whole guest
    before = minimap_view(page)
    page.mouse.move(box["x"] + 300, box["y"] + 200)
    page.mouse.down()
    page.mouse.move(box["x"] + 200, box["y"] + 100, steps=5)
    page.mouse.up()
    assert minimap_view(page) != before
    page.locator("body").press("0")
    assert page.evaluate(f"{GRID}.dataset.lod") == "blocks"
    expect(page.get_by_test_id("minimap")).to_be_hidden()


def test_block_aggregation(open_page: Any) -> None:
    """BlockModel on a made-up store: majority, marks, and which blocks an event dirties."""
    page = open_page()
    got = page.evaluate("""async () => {
      const { BlockModel, MARK } = await import('/static/js/lod.js');
      const listeners = {};
      const pages = 2048;   // four blocks
      const types = ['none', 'writable', 'l1', 'l2', 'l3', 'l4', 'seg_desc', 'shared'];
      const h = { owners: ['free', 'guest'], owner: new Array(4096).fill(1),
                  type: new Array(4096).fill(1), flags: new Array(4096).fill(2),
                  m2p: new Array(4096).fill(-1), p2m: [] };
      for (let p = 0; p < pages; p++) { h.p2m[p] = p + 100; h.m2p[p + 100] = p; }
      for (let p = 0; p < 300; p++) h.type[p + 100] = 2;      // block 0: mostly L1
      h.flags[110] = 0;                                         // one de-validated
      for (let p = 1024; p < 1536; p++) h.p2m[p] = -1;          // block 2: no frames
      const store = { types, guest: { pages, host: 's' }, hosts: { s: h },
        migration: { lost: new Map([[1030, {}]]), outcome: new Map(), dst: null },
        on: (name, fn) => { listeners[name] = fn; } };
      const m = new BlockModel(store);
      listeners.load();
      m.refreshAll();
      const first = { majority: Array.from(m.majority), marks: Array.from(m.marks) };
      h.type[700 + 100] = 3;                                    // block 1 gets an L2
      listeners.event({ deltas: [{ kind: 'frame', host: 's', mfn: 800, field: 'type' }] });
      const dirty = Array.from(m.dirty);
      m.refreshAll();
      return { first, dirty, after: Array.from(m.marks), MARK };
    }""")
    mark = got["MARK"]
    # writable 1, l1 2; the free class is one past the last type (8)
    assert got["first"]["majority"] == [2, 1, 8, 1]
    assert got["first"]["marks"] == [mark["tables"] | mark["devalidated"], 0, mark["lost"], 0]
    assert got["dirty"] == [0, 1, 0, 0]   # only the block the delta touched
    assert got["after"][1] == mark["tables"]


def held_classes(snap: dict[str, Any], host: str, deltas: list[dict[str, Any]]
                 ) -> list[int]:
    """Class of every MFN of `host` (its type index, free: one past the last type, another
    domain's: two past) after `deltas`, from the snapshot before them (docs/deltas.md)."""
    h = snap["hosts"][host]
    owner = [h["owners"][o] for o in h["owner"]]
    kind = [snap["types"][t] for t in h["type"]]
    for d in deltas:
        if d.get("host") != host or d["kind"] not in ("frame", "frames") or \
                d["field"] not in ("owner", "type"):
            continue
        mfns = [d["mfn"]] if d["kind"] == "frame" else unpack(d["mfns"])
        new = unpack(d["new"]) if isinstance(d["new"], dict | list) else [d["new"]] * len(mfns)
        column = owner if d["field"] == "owner" else kind
        for mfn, value in zip(mfns, new, strict=True):
            column[mfn] = value
    free, foreign = len(snap["types"]), len(snap["types"]) + 1
    return [snap["types"].index(t) if o == "guest" else free if o == "free" else foreign
            for o, t in zip(owner, kind, strict=True)]


def majorities(classes: list[int], classes_count: int) -> list[int]:
    """Each block's most common class (the lowest on a tie, as lod.js picks it)."""
    out = []
    for b in range(0, len(classes), 512):
        counts = Counter(classes[b:b + 512])
        out.append(max(range(classes_count), key=lambda c: (counts[c], -c)))
    return out


def test_zoomed_out_blocks_follow_the_migration_animation(open_page: Any,
                                                          server: Server) -> None:
    """Paused mid-migration, the hosts' blocks show the state as of the group being played
    (display.js), not the state after the event the store already holds."""
    pages = 1 << 15
    frames = pages + pages // 8 + 4096
    scenario = {"name": "lod-anim", "guest": {"pages": pages, "layout": "linear"},
                "hosts": {"source": {"frames": frames}, "destination": {"frames": frames}}}
    session = server.api("POST", "/api/sessions", {"scenario": scenario})["id"]
    before = unpacked_snapshot(server.api("GET", f"/api/sessions/{session}"))
    page = open_page(session, viewport={"width": 1440, "height": 900})
    page.get_by_test_id("view-both").click()
    page.get_by_test_id("anim-speed").fill("1")   # half a group a second: a batch takes 6 s
    page.keyboard.press("Escape")                 # keys to the page, not the slider
    server.api("POST", f"/api/sessions/{session}/steps", {"migrate": "all"})
    expect(page.get_by_test_id("anim-ticker")).to_contain_text("write_batch", timeout=30000)
    page.keyboard.press("k")
    expect(page.get_by_test_id("anim-pause")).to_have_attribute("aria-pressed", "true")
    upto = page.evaluate("window.pvframes.animator.current.upto")
    event = server.api("GET", f"/api/sessions/{session}/events?since=0")["events"][0]
    after = unpacked_snapshot(server.api("GET", f"/api/sessions/{session}?seq=1"))
    n = len(before["types"]) + 2
    grid = "document.querySelector('[data-testid=grid-{}]')"
    for host in ("source", "destination"):
        g = grid.format(host)
        page.wait_for_function(f"() => {g}.dataset.lod === 'blocks' && "
                               f"{g}.pvLod.model.pending === 0 && !{g}.pvLod.grid.view.settling")
        shown = page.evaluate(f"Array.from({g}.pvLod.model.majority)")
        held = majorities(held_classes(before, host, event["deltas"][:upto]), n)
        final = majorities(held_classes(before, host, event["deltas"]), n)
        assert final == majorities(held_classes(after, host, []), n)   # the oracle agrees
        assert shown == held
        # the guest's blocks: still on the source (not yet freed by domain_kill), not yet
        # populated on the destination, where the state after the event differs
        guest_block = (before["guest"]["p2m"][pages // 2] if host == "source"
                       else after["guest"]["p2m"][pages // 2]) // 512
        assert held[guest_block] != final[guest_block]
        colour = page.evaluate(f"""b => {{ const c = {g}; const v = c.pvLod;
            const p = v.vp.toCanvas((b % v.columns) * 32 + 16, Math.floor(b / v.columns) * 16 + 8);
            const k = c.width / c.clientWidth;
            const d = c.getContext('2d').getImageData(Math.round(p.x * k), Math.round(p.y * k),
                                                      1, 1).data;
            const want = v.colourOf(v.model.majority[b]);
            return [Array.from(d.slice(0, 3)), want, v.colourOf({final[guest_block]})]; }}""",
                               guest_block)
        assert colour[0] == colour[1] != colour[2]   # drawn in the held-back class's colour
    # Resumed and skipped: the blocks catch up with the state after the event.
    page.keyboard.press("s")
    for host in ("source", "destination"):
        g = grid.format(host)
        page.wait_for_function(f"() => {g}.pvLod.model.pending === 0 && "
                               f"!{g}.pvLod.grid.view.settling")
        assert page.evaluate(f"Array.from({g}.pvLod.model.majority)") == \
            majorities(held_classes(after, host, []), n)


FITS = """() => {
  const area = document.querySelector('[data-testid=grids]').getBoundingClientRect();
  const tabs = document.querySelector('[data-testid=views]').getBoundingClientRect();
  const where = document.querySelector('[data-testid=guest-where]');
  const shown = [...document.querySelectorAll('.grids figure:not([hidden])')];
  return {
    whereBesideTabs: where.getBoundingClientRect().top < tabs.bottom,
    whereLines: Math.round(where.getBoundingClientRect().height
                           / parseFloat(getComputedStyle(where).lineHeight)),
    figures: shown.map((f) => {
      const cap = f.querySelector('figcaption');
      const hint = f.querySelector('[data-testid=lod-hint]');
      return { capFits: cap.scrollHeight <= cap.clientHeight + 1
                        && cap.scrollWidth <= cap.clientWidth + 1,
               hintFits: hint.scrollHeight <= hint.clientHeight + 1,
               hintInside: hint.getBoundingClientRect().bottom <= area.bottom + 0.5,
               hintText: hint.textContent }; }),
  };
}"""


@pytest.mark.parametrize("size", [(1440, 900), (1024, 768)])
def test_two_host_captions_and_hints_fit(open_page: Any, server: Server,
                                         size: tuple[int, int]) -> None:
    """Both hosts side by side: the line saying where the guest runs (its longest form:
    on the destination, unpatched), each grid's caption and the hint under each zoomed-out
    grid are shown whole, inside the stage."""
    pages = 1 << 15
    frames = pages + pages // 8 + 4096
    scenario = {"name": "lod-both", "guest": {"pages": pages, "layout": "linear"},
                "hosts": {"source": {"frames": frames}, "destination": {"frames": frames}}}
    session = server.api("POST", "/api/sessions",
                         {"scenario": scenario, "xen": "unpatched"})["id"]
    server.api("POST", f"/api/sessions/{session}/steps", {"migrate": "all"})
    width, height = size
    page = open_page(session, viewport={"width": width, "height": height})
    page.get_by_test_id("view-both").click()
    for host in ("source", "destination"):
        page.wait_for_function(f"() => document.querySelector('[data-testid=grid-{host}]')"
                               ".dataset.lod === 'blocks' && document.querySelector("
                               f"'[data-testid=grid-{host}]').dataset.pending === '0'")
    expect(page.get_by_test_id("guest-where")).to_have_text(
        "Guest on destination · Xen unpatched")
    got = page.evaluate(FITS)
    assert got["whereLines"] == 1
    if width >= 1440:   # room enough beside the tabs
        assert got["whereBesideTabs"]
    assert len(got["figures"]) == 2
    for f in got["figures"]:
        assert f["capFits"] and f["hintFits"] and f["hintInside"], f
        assert f["hintText"].endswith("click a block to zoom in")
    screenshot(page, f"lod-both-{width}")
