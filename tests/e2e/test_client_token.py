"""The page names its browser with one client token: a header on requests, the query on streams."""

from __future__ import annotations

import re

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.usefixtures("patient_expect")

FAST = "samples=200&epochs=20&speed=1000&boundaryEvery=5"
TOKEN = re.compile(r"^[0-9a-f]{32}$")


def start_a_run(page, live_server, reload: bool = False) -> tuple[str, str]:
    """Start a run from the page; the token its POST sent and the one in its stream's URL."""
    if reload:
        page.reload()
    else:
        page.goto(f"{live_server.url}/#{FAST}")
    expect(page.get_by_test_id("status")).to_have_text("idle")
    with page.expect_request(lambda request: request.url.endswith("/api/runs")) as posted, \
            page.expect_request(lambda request: "/events" in request.url) as streamed:
        page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    header = posted.value.headers.get("x-tuning-client", "")
    query = re.search(r"[?&]client=([^&]+)", streamed.value.url)
    return header, query.group(1) if query else ""


def test_the_page_sends_one_token_kept_across_reloads(page, live_server):
    header, query = start_a_run(page, live_server)
    assert TOKEN.match(header), header
    assert query == header
    again, _ = start_a_run(page, live_server, reload=True)
    assert again == header  # localStorage kept it
    assert page.console_errors == []


def test_another_browser_profile_has_another_token(browser, page, live_server):
    first, _ = start_a_run(page, live_server)
    context = browser.new_context()
    try:
        other, _ = start_a_run(context.new_page(), live_server)
    finally:
        context.close()
    assert TOKEN.match(other) and other != first
