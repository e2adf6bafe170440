"""Fixtures for the reliability tests: an app on a temporary database that answers faults
as it would in production (no exception propagation), and a session to aim at."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from webapp import create_app

AppFactory = Callable[..., Flask]


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory in memory when the machine has one: the corpus tests commit thousands
    of times, and fsync on a shared disk would dominate their run time."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir=shm) as name:
        yield Path(name)


@pytest.fixture
def make_app(fast_dir: Path) -> Iterator[AppFactory]:
    apps: list[Flask] = []
    tmp_path = fast_dir

    def make(database: Path | str | None = None, **config: Any) -> Flask:
        settings = {"TESTING": True, "PROPAGATE_EXCEPTIONS": False,
                    "DATABASE": str(database or tmp_path / "pvframes.sqlite3"), **config}
        app = create_app(settings)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["pvframes"].store.close()


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
