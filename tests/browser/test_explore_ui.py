"""The Explore panel in a real browser: start a search from the session's state, a finding
arrives live, it opens as a new session whose script replays with every assertion holding."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from conftest import SCREENSHOTS, Server, screenshot, wait_ready

pytestmark = pytest.mark.browser

BARE = {"name": "bare-guest", "title": "A bare 16-page guest",
        "guest": {"pages": 16, "layout": "bare"}}


def test_explore_finds_and_opens_a_divergence(open_page: Any, server: Server) -> None:
    session = server.api("POST", "/api/sessions", {"scenario": BARE})["id"]
    page = open_page(session)
    panel = page.get_by_test_id("explore")
    panel.get_by_test_id("explore-goal").select_option("divergence")
    panel.get_by_test_id("explore-budget").fill("4")
    panel.get_by_test_id("explore-start").click()
    first = panel.get_by_test_id("explore-finding").first
    first.wait_for(timeout=20000)
    assert "migrate" in first.inner_text() or "rc" in first.inner_text()
    page.wait_for_selector("[data-testid=explore][data-state=done]", timeout=30000)
    assert "Done" in panel.get_by_test_id("explore-progress").inner_text()
    panel.scroll_into_view_if_needed()
    screenshot(page, "explore")
    page.set_viewport_size({"width": 1024, "height": 768})
    panel.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "explore-1024x768.png"))

    first.get_by_test_id("explore-open-patched").click()
    page.wait_for_function("s => document.body.dataset.session !== s", arg=session)
    wait_ready(page, seq=0)
    steps = page.get_by_test_id("script-step").count()
    assert steps >= 2
    page.get_by_test_id("script-all").click()
    wait_ready(page, seq=steps)
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=script-step][data-state=done]').length"
        " === n", arg=steps)
    assert page.locator(".assertion.fail").count() == 0
    assert page.locator(".assertion.pass").count() > 0


def test_a_finding_opens_in_the_compare_view(open_page: Any, server: Server) -> None:
    """Side by side: both variants of the finding's scenario, run to the end, in the
    compare view, whose divergence list is not empty (the finding is a divergence)."""
    session = server.api("POST", "/api/sessions", {"scenario": BARE})["id"]
    page = open_page(session)
    panel = page.get_by_test_id("explore")
    panel.get_by_test_id("explore-budget").fill("2")
    panel.get_by_test_id("explore-start").click()
    first = panel.get_by_test_id("explore-finding").first
    first.wait_for(timeout=20000)
    first.get_by_test_id("explore-open-compare").click()
    page.wait_for_url("**/?compare=*", timeout=20000)
    page.wait_for_selector("body[data-compare=ready]", timeout=20000)
    a, b = parse_qs(urlparse(page.url).query)["compare"][0].split(",")
    assert a != b and session not in (a, b)
    assert page.get_by_test_id("divergence").count() > 0
    screenshot(page, "explore-compare")
