"""The embed page: minimal chrome, hidden panels, and a cross-origin iframe that reports its height."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.e2e.conftest import LiveServer, preset_epochs

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect


pytestmark = pytest.mark.usefixtures("patient_expect")

HOST_PAGE = """<!doctype html>
<html><head><title>Course page</title></head>
<body>
<h1>Week 1: overfitting</h1>
<iframe id="lesson" src="{src}" title="Tuning Playground" width="{width}" height="600"
        style="border:0"></iframe>
<script>
window.heights = [];
window.addEventListener("message", (event) => {{
  if (event.data && event.data.type === "tuning-playground:resize") {{
    window.heights.push(event.data.height);
    document.getElementById("lesson").height = String(event.data.height);
  }}
}});
</script>
</body></html>"""


@pytest.fixture(scope="module")
def course_site():
    """A page on another origin (another loopback port) that embeds the playground."""
    app = Flask("course_site")
    app.config["EMBED_SRC"] = ""
    app.config["WIDTH"] = "720"

    @app.get("/")
    def course_page():
        return HOST_PAGE.format(src=app.config["EMBED_SRC"], width=app.config["WIDTH"])

    server = LiveServer(app).start()
    server.app = app
    yield server
    server.stop()


def test_embed_hides_the_chrome_and_the_named_panels(page, live_server):
    page.goto(f"{live_server.url}/embed?preset=overfitting&hide=data,network,gradcheck,bogus")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator(".masthead")).to_have_count(0)
    expect(page.locator('[data-panel="data"]')).to_be_hidden()
    expect(page.locator('[data-panel="network"]')).to_be_hidden()
    expect(page.locator('[data-panel="gradcheck"]')).to_be_hidden()
    expect(page.locator('[data-panel="training"]')).to_be_visible()
    expect(page.get_by_test_id("loss-chart")).to_be_visible()
    expect(page.get_by_test_id("start")).to_be_visible()
    expect(page.get_by_test_id("lesson")).to_contain_text("Overfitting")
    expect(page.get_by_test_id("status")).to_have_text("idle")
    top_of_charts = page.get_by_test_id("loss-chart").bounding_box()["y"]
    assert top_of_charts < 300  # charts come first inside a 600-pixel iframe
    assert page.console_errors == []


def test_cross_origin_iframe_autoplays_to_done_and_posts_its_height(page, live_server, course_site):
    course_site.app.config["EMBED_SRC"] = (
        f"{live_server.url}/embed?preset=overfitting&autoplay=1&hide=gradcheck,compare#speed=1000")
    course_site.app.config["WIDTH"] = "720"
    assert course_site.url != live_server.url
    page.goto(course_site.url)
    frame = page.frame_locator("#lesson")
    expect(frame.get_by_test_id("status")).to_have_text("done", timeout=20_000)
    expect(frame.locator('[data-panel="gradcheck"]')).to_be_hidden()
    expect(frame.locator('[data-panel="compare"]')).to_be_hidden()
    expect(frame.get_by_test_id("epoch")).to_have_text(str(preset_epochs("overfitting")))
    page.wait_for_function("() => window.heights.length > 0")
    heights = page.evaluate("window.heights")
    assert all(isinstance(height, int) and height > 300 for height in heights)
    iframe_height = page.evaluate("Number(document.getElementById('lesson').height)")
    assert iframe_height == heights[-1]
    assert page.context.cookies() == []  # nothing to lose when third-party cookies are blocked


def test_embed_fits_a_narrow_iframe_and_reports_an_unknown_preset(page, live_server, course_site):
    course_site.app.config["EMBED_SRC"] = f"{live_server.url}/embed?preset=no-such-lesson&hide=training"
    course_site.app.config["WIDTH"] = "360"
    page.goto(course_site.url)
    frame = page.frame_locator("#lesson")
    expect(frame.locator("body")).to_have_attribute("data-ready", "true")
    expect(frame.get_by_test_id("message")).to_contain_text('no lesson called "no-such-lesson"')
    overflow = frame.locator("body").evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    expect(frame.get_by_test_id("start")).to_be_in_viewport()
    page.wait_for_function("() => window.heights.length > 0")


def test_the_iframe_snippet_embeds_the_current_config(page, live_server):
    page.goto(f"{live_server.url}/#samples=200&epochs=77&optimizer=momentum")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.get_by_test_id("copy-embed").click()
    snippet = page.get_by_test_id("share-text").input_value()
    assert snippet.startswith(f'<iframe src="{live_server.url}/embed#')
    assert "epochs=77" in snippet and "optimizer=momentum" in snippet and 'height="600"' in snippet
    src = snippet.split('src="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    page.goto(src)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.get_by_test_id("epochs")).to_have_value("77")
    expect(page.get_by_test_id("optimizer")).to_have_value("momentum")
