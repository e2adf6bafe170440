"""The reliability tests' apps (tests/conftest.py builds them): databases in memory when
the machine has /dev/shm, and faults answered as in production (no exception propagation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def app_dir(fast_dir: Path) -> Path:
    return fast_dir


@pytest.fixture
def app_settings() -> dict[str, Any]:
    return {"PROPAGATE_EXCEPTIONS": False}
