"""Hypothesis strategies for hostile payloads: JSON-like values with the awkward corners
(huge integers, lone surrogates, odd keys), and valid steps with one part replaced."""

from __future__ import annotations

import copy
import random
from typing import Any

from hypothesis import strategies as st
from reliability_helpers import VALID_STEPS

FIELD_NAMES = [
    "write", "mmu_update", "mmuext", "memory", "migrate", "check", "note", "expect", "pfn",
    "mfn", "index", "entry", "flags", "cmd", "phase", "rounds", "session", "since", "count",
    "step", "scenario", "scenario_file", "xen", "guest", "pages", "hosts", "steps", "frames",
]
ODD_STRINGS = [
    "", "all", "0x1f", "0xffffffffffffffffff", "-1", "9" * 30, "patched", "present", "pin_l1",
    "..", "../../etc/passwd", "\ud800", "\udfff", "\x00", "null", "NaN", "Infinity", "1e309",
    "<script>alert(1)</script>", "!!binary aGk=", "&a [*a]",
]

# Every code point, lone surrogates included (the default leaves those out).
any_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF,
                                 categories=["Cs", "Lu", "Ll", "Nd", "Po", "Zs", "Cc", "So"]),
                   max_size=12)
scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.integers(min_value=-(1 << 300), max_value=1 << 300),
    st.integers(min_value=-5, max_value=600),
    st.floats(allow_nan=False, allow_infinity=False),
    any_text, st.sampled_from(ODD_STRINGS),
)
keys = st.one_of(st.sampled_from(FIELD_NAMES), any_text)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


def _replace(template: dict[str, Any], rnd: random.Random, value: Any) -> Any:
    """A copy of `template` with one randomly chosen part (or a new key) set to `value`."""
    doc = copy.deepcopy(template)
    node: Any = doc
    while True:
        if isinstance(node, dict) and node:
            key = rnd.choice([*node, None])
            if key is None:
                node[rnd.choice(FIELD_NAMES)] = value
                return doc
            if rnd.random() < 0.4 or not isinstance(node[key], dict | list):
                node[key] = value
                return doc
            node = node[key]
        elif isinstance(node, list) and node:
            i = rnd.randrange(len(node))
            if rnd.random() < 0.5 or not isinstance(node[i], dict | list):
                node[i] = value
                return doc
            node = node[i]
        else:
            return value


mutated_steps = st.builds(_replace, st.sampled_from(VALID_STEPS), st.randoms(), values)
steps = st.one_of(mutated_steps, values, st.sampled_from(VALID_STEPS))
