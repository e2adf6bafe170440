"""The HTML page and static files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from server_helpers import REPO

from webapp.paths import asset_dir


def test_index_gets_the_session_id(make_app: Any, tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("session=[{{ session_id }}]")
    client = make_app(TEMPLATE_FOLDER=tmp_path).test_client()
    assert client.get("/?session=abc").get_data(as_text=True) == "session=[abc]"
    assert client.get("/").get_data(as_text=True) == "session=[]"
    # autoescaped: a crafted id cannot inject markup
    assert "<b>" not in client.get("/?session=<b>").get_data(as_text=True)


def test_assets_resolve_to_the_checkout() -> None:
    assert asset_dir("templates") == REPO / "templates"
    assert asset_dir("static") == REPO / "static"


@pytest.mark.skipif(
    not (REPO / "templates" / "index.html").is_file(), reason="front end not written yet"
)
def test_real_index_renders(client: Any) -> None:
    response = client.get("/?session=abc")
    assert response.status_code == 200 and response.mimetype == "text/html"


def test_static_files_are_served(make_app: Any) -> None:
    static = REPO / "static"
    files = [p for p in static.rglob("*") if p.is_file()] if static.is_dir() else []
    if not files:
        pytest.skip("no static files yet")
    client = make_app().test_client()
    path = files[0].relative_to(static).as_posix()
    response = client.get(f"/static/{path}")
    assert response.status_code == 200
    response.close()
