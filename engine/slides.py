"""The frame grid at one moment as a standalone SVG, for a slide deck (docs/classroom.md).

Drawn from a session's snapshot, so it needs no server or browser: `pvframes run FILE
--snapshot STEP --svg OUT` and the page's "SVG" / "PNG" export use this same writer. Cells
carry the page's cues (the Okabe-Ito colours and letters of static/js/types.js): hatched for
a de-validated page table (type kept, PGT_validated clear), a corner mark for pinned, a
dashed outline for PGT_partial; the selected frame's present entries are drawn as arrows;
a legend lists every type and mark the picture uses.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from .errors import InvalidInput
from .session import FLAG_PARTIAL, FLAG_PINNED, FLAG_VALIDATED, Session

VIEWS = ("guest", "source", "destination")
STYLE = {  # as static/js/types.js
    "none": ("#ffffff", "N", "no type (ordinary page)"),
    "writable": ("#56b4e9", "W", "writable (data page)"),
    "l1": ("#009e73", "L1", "L1 page table"),
    "l2": ("#e69f00", "L2", "L2 page table"),
    "l3": ("#cc79a7", "L3", "L3 page table"),
    "l4": ("#0072b2", "L4", "L4 page table (root)"),
    "seg_desc": ("#f0e442", "D", "segment descriptor page"),
    "shared": ("#d55e00", "S", "shared page"),
}
PAGE_TABLES = {"l1", "l2", "l3", "l4", "seg_desc"}
FOREIGN = "#8c8c8c"
INK = "#111111"
CELL, GAP, COLS, MARGIN, TOP = 36, 4, 16, 16, 44
MAX_CELLS = 4096


def _ink_on(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    lum = sum(w * (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
              for w, c in ((0.2126, r), (0.7152, g), (0.0722, b)))
    return INK if lum > 0.22 else "#ffffff"


def _cells(snap: dict[str, Any], view: str) -> tuple[str, list[tuple[int, int | None]]]:
    """(host, [(mfn, pfn)]) in the order the view shows them."""
    if view == "guest":
        host = snap["guest"]["host"]
        return host, [(mfn, pfn) for pfn, mfn in enumerate(snap["guest"]["p2m"]) if mfn >= 0]
    h = snap["hosts"][view]
    m2p = h["m2p"]
    cells = [(mfn, m2p[mfn] if m2p[mfn] >= 0 and h["owners"][h["owner"][mfn]] == "guest"
              else None) for mfn in range(h["frames"])]
    used = [i for i, (mfn, _) in enumerate(cells) if h["owners"][h["owner"][mfn]] != "free"]
    if used:  # the frames in use, not the empty rest of the host
        cells = cells[used[0]:used[-1] + 1]
    return view, cells[:MAX_CELLS]


def grid_svg(session: Session, view: str = "guest",
             selected: tuple[str, int] | None = None) -> str:
    """The grid of `view` as SVG text; `selected` = (host, mfn) draws that frame's entries."""
    if view not in VIEWS:
        raise InvalidInput("view", f"must be one of {', '.join(VIEWS)}")
    snap = session.snapshot()
    host, cells = _cells(snap, view)
    h = snap["hosts"][host]
    types = snap["types"]
    where: dict[int, tuple[float, float]] = {}
    body: list[str] = []
    used_types: set[str] = set()
    marks: set[str] = set()
    for i, (mfn, pfn) in enumerate(cells):
        x = MARGIN + (i % COLS) * (CELL + GAP)
        y = MARGIN + TOP + (i // COLS) * (CELL + GAP)
        where[mfn] = (x + CELL / 2, y + CELL / 2)
        owner = h["owners"][h["owner"][mfn]]
        kind = types[h["type"][mfn]]
        flags = h["flags"][mfn]
        if owner not in ("guest", "free"):
            colour, letter = FOREIGN, ""
            marks.add("foreign")
        elif owner == "free":
            colour, letter = "#ffffff", ""
        else:
            colour, letter, _ = STYLE.get(kind, ("#dddddd", "?", kind))
            used_types.add(kind)
        devalidated = owner == "guest" and kind in PAGE_TABLES and not flags & FLAG_VALIDATED
        fill = f"url(#hatch-{kind})" if devalidated else colour
        if devalidated:
            marks.add("devalidated")
        dash = ' stroke-dasharray="4 3"' if flags & FLAG_PARTIAL else ""
        if flags & FLAG_PARTIAL:
            marks.add("partial")
        label = f"PFN {pfn}" if pfn is not None else f"MFN {mfn}"
        body.append(f'<g><title>{escape(label)}: MFN {mfn}, {escape(kind)}</title>'
                    f'<rect x="{x}" y="{y}" width="{CELL}" height="{CELL}" fill="{fill}" '
                    f'stroke="{INK}" stroke-width="1"{dash}/>')
        if flags & FLAG_PINNED:
            marks.add("pinned")
            body.append(f'<path d="M{x} {y} h12 L{x} {y + 12} z" fill="{INK}"/>')
        if letter:
            ink = INK if devalidated else _ink_on(colour)
            body.append(f'<text x="{x + CELL / 2}" y="{y + CELL / 2 + 5}" text-anchor="middle" '
                        f'font-size="13" font-weight="bold" fill="{ink}">{letter}</text>')
        body.append("</g>")
    arrows = _arrows(session, selected, host, where) if selected else []
    if selected and selected[0] == host and selected[1] in where:
        cx, cy = where[selected[1]]
        body.append(f'<rect x="{cx - CELL / 2 - 3}" y="{cy - CELL / 2 - 3}" width="{CELL + 6}" '
                    f'height="{CELL + 6}" fill="none" stroke="{INK}" stroke-width="3"/>')
        marks.add("selected")
    if arrows:
        marks.add("arrow")
    rows = (len(cells) + COLS - 1) // COLS
    legend_y = MARGIN + TOP + rows * (CELL + GAP) + 12
    legend = _legend(used_types, marks, legend_y)
    width = MARGIN * 2 + COLS * (CELL + GAP)
    height = legend_y + 22 * len(legend) + MARGIN
    title = snap["title"] or snap["name"]
    subtitle = f"{view} view · seq {snap['seq']} · Xen {snap['xen']}"
    defs = "".join(
        f'<pattern id="hatch-{k}" width="8" height="8" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="8" height="8" fill="#ffffff"/>'
        f'<rect width="4" height="8" fill="{c}"/></pattern>'
        for k, (c, _, _) in STYLE.items() if k in PAGE_TABLES)
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
        f'<defs>{defs}<marker id="head" markerWidth="8" markerHeight="8" refX="7" refY="4" '
        f'orient="auto"><path d="M0 0 L8 4 L0 8 z" fill="{INK}"/></marker></defs>',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{MARGIN}" y="{MARGIN + 12}" font-size="15" font-weight="bold" '
        f'fill="{INK}">{escape(title)}</text>',
        f'<text x="{MARGIN}" y="{MARGIN + 30}" font-size="13" fill="{INK}">'
        f'{escape(subtitle)}</text>',
        *body, *arrows, *legend, "</svg>", ""])


def _arrows(session: Session, selected: tuple[str, int], host: str,
            where: dict[int, tuple[float, float]]) -> list[str]:
    sel_host, mfn = selected
    if sel_host != host or mfn not in where:
        return []
    x0, y0 = where[mfn]
    out = []
    for entry in session.frame_detail(host, mfn)["entries"]:
        if entry["mfn"] not in where:
            continue
        x1, y1 = where[entry["mfn"]]
        out.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="{INK}" '
                   f'stroke-width="2" marker-end="url(#head)"><title>entry {entry["index"]}'
                   f'</title></line>')
    return out


MARK_TEXT = {
    "devalidated": "hatched: de-validated page table (type kept, PGT_validated clear)",
    "pinned": "black corner: pinned",
    "partial": "dashed outline: validation preempted (PGT_partial)",
    "foreign": "grey: another domain's frame",
    "selected": "thick outline: the selected frame",
    "arrow": "arrow: a present entry of the selected page table",
}


def _legend(types: set[str], marks: set[str], y: float) -> list[str]:
    out = []
    for kind in [k for k in STYLE if k in types]:
        colour, letter, text = STYLE[kind]
        out.append(f'<rect x="{MARGIN}" y="{y}" width="16" height="16" fill="{colour}" '
                   f'stroke="{INK}"/><text x="{MARGIN + 24}" y="{y + 13}" font-size="13" '
                   f'fill="{INK}">{letter}: {escape(text)}</text>')
        y += 22
    for mark in [m for m in MARK_TEXT if m in marks]:
        out.append(f'<text x="{MARGIN}" y="{y + 13}" font-size="13" fill="{INK}">'
                   f'{escape(MARK_TEXT[mark])}</text>')
        y += 22
    return out
