"""Fixtures for the engine tests (helpers live in engine_helpers.py)."""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import Driver, scenario

from engine.session import Session


@pytest.fixture
def make():
    def _make(layout: str = "linear", pages: int = 64, xen: str = "patched",
              **hosts: Any) -> Driver:
        d = Driver(Session.create(scenario(layout, pages, xen, **hosts)))
        assert d.w.audit() == []
        return d
    return _make


@pytest.fixture
def g(make) -> Driver:
    """The default linear guest under patched Xen."""
    return make()
