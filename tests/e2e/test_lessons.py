"""Lessons in Chromium: a preset embedded by a page of another origin, and the three labs.

The labs are paced through their URL (``steps_per_second``): the first race
streams in batches over a couple of seconds (the animation), later ones fast.
"""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.e2e.conftest import preset_epochs

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

HIDDEN_PANELS = ("gradients", "diagnosis")
# Each step of a lab redraws Plotly charts: generous on a busy machine, instant when idle.
LAB_TIMEOUT = 20_000
# A course page: it embeds the preset and keeps every message the iframe posts.
COURSE_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>A course page</title></head>
<body>
<h1>Week 1: overfitting</h1>
<iframe id="lesson" src="{src}" width="100%" height="600" style="border:0"></iframe>
<script>
  window.lessonMessages = [];
  window.addEventListener("message", (event) => {{
    window.lessonMessages.push({{origin: event.origin, data: event.data}});
    if (event.data && event.data.type === "tuning-playground:resize") {{
      document.getElementById("lesson").style.height = event.data.height + "px";
    }}
  }});
</script>
</body></html>
"""


class CoursePageServer:
    """A second server, on another port and host name: the embedding page's origin."""

    def __init__(self, iframe_src: str):
        page = COURSE_PAGE.format(src=iframe_src)

        @Request.application
        def app(request):
            return Response(page, mimetype="text/html")

        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        # "localhost" and "127.0.0.1" are different sites, so the iframe is third-party.
        self.url = f"http://localhost:{self._server.server_port}/course"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> CoursePageServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


def lab_status_is_done(page) -> None:
    expect(page.get_by_test_id("lab-status")).to_have_text("done", timeout=LAB_TIMEOUT)


def record_batches(page) -> None:
    """Note when each streamed batch of steps reaches the page (``window.batchTimes``, in ms)."""
    page.add_init_script("""
        window.batchTimes = [];
        document.addEventListener("DOMContentLoaded", () => {
          const chart = document.querySelector('[data-testid="race-chart"]');
          if (!chart) return;
          new MutationObserver(() => window.batchTimes.push(performance.now()))
            .observe(chart, {attributes: true, attributeFilter: ["data-batches"]});
        });
    """)


def trajectory_lengths(page) -> dict[str, int]:
    return page.evaluate("""() => {
        const chart = document.querySelector('[data-testid="race-chart"]');
        const paths = chart.data.filter((trace) => trace.mode === "lines+markers");
        return Object.fromEntries(paths.map((trace) => [trace.name, trace.x.length]));
    }""")


def outcome(page, optimizer: str) -> dict[str, str]:
    row = page.get_by_test_id(f"outcome-{optimizer}")
    return {key: row.get_attribute(f"data-{key}") for key in ("x", "y", "reached", "moved", "steps")}


def test_an_embedded_preset_runs_to_done_posts_its_height_and_hides_panels(page, live_server):
    src = f"{live_server.url}/embed?preset=overfitting&autoplay=1&hide={','.join(HIDDEN_PANELS)}"
    cookies_set = []
    page.on("response", lambda response: cookies_set.append(response.url)
            if response.url.startswith(live_server.url) and "set-cookie" in response.headers else None)
    with CoursePageServer(src) as course:
        page.goto(course.url)
        lesson = page.frame_locator("#lesson")
        expect(lesson.get_by_test_id("status")).to_have_text("done", timeout=45_000)
        expect(lesson.get_by_test_id("epoch")).to_have_text(str(preset_epochs("overfitting")))
        for panel in HIDDEN_PANELS:
            for index in range(lesson.locator(f'[data-panel="{panel}"]').count()):
                expect(lesson.locator(f'[data-panel="{panel}"]').nth(index)).to_be_hidden()
        expect(lesson.get_by_test_id("loss-chart")).to_be_visible()
        page.wait_for_function("""() => window.lessonMessages.some(
            (m) => m.data && m.data.type === "tuning-playground:resize")""")
        messages = page.evaluate("window.lessonMessages")
        resizes = [m for m in messages if m["data"].get("type") == "tuning-playground:resize"]
        assert all(m["origin"] == live_server.url for m in resizes)
        assert all(isinstance(m["data"]["height"], int) and m["data"]["height"] > 0 for m in resizes)
        # The parent sized the iframe to the height it was last told.
        page.wait_for_function("""() => {
            const resizes = window.lessonMessages.filter((m) => m.data.type === "tuning-playground:resize");
            const frame = document.getElementById("lesson");
            return frame.getBoundingClientRect().height === resizes[resizes.length - 1].data.height;
        }""")
    # Nothing depends on cookies, so blocking third-party cookies changes nothing.
    assert cookies_set == []
    assert page.console_errors == []


def test_optimizer_lab_animates_the_four_ends_where_the_math_says_and_names_bad_input(page, live_server):
    record_batches(page)
    page.goto(f"{live_server.url}/labs/optimizers?surface=saddle&steps_per_second=60")
    lab_status_is_done(page)
    expect(page.get_by_test_id("lab-step")).to_have_text("200", timeout=LAB_TIMEOUT)
    assert trajectory_lengths(page) == {"Gradient descent": 201, "Momentum": 201, "RMSprop": 201, "Adam": 201}
    # Streamed as 34 batches of 6 steps, ten a second over 3.4 s, and drawn as they come (at most
    # once per frame). A busy page may take the first batches late, but not the whole stream at once.
    expect(page.get_by_test_id("race-chart")).to_have_attribute("data-batches", "34", timeout=LAB_TIMEOUT)
    arrivals = page.evaluate("window.batchTimes")
    assert len(arrivals) == 34
    assert arrivals[-1] - arrivals[0] > 1000
    for name in ("adam", "momentum"):
        assert outcome(page, name)["reached"] == "true"
        expect(page.get_by_test_id(f"outcome-{name}")).to_contain_text("reached the minimum")
    gd = outcome(page, "gd")
    assert gd["reached"] == "false" and -0.2 < float(gd["y"]) < 0
    expect(page.get_by_test_id("outcome-gd")).to_contain_text("stalled where the gradient vanishes")

    page.get_by_test_id("lab-speed").select_option("2000")
    page.get_by_test_id("surface").select_option("plateau")
    # The change starts the new race at once (status "running"), which ends "done" again.
    expect(page.locator("#surface-caption")).to_contain_text("Plateau", timeout=LAB_TIMEOUT)
    lab_status_is_done(page)
    assert trajectory_lengths(page)["Gradient descent"] == 201
    assert float(outcome(page, "gd")["moved"]) < 0.01
    expect(page.get_by_test_id("outcome-gd")).to_contain_text("barely left the start")
    assert outcome(page, "adam")["reached"] == "true"

    page.get_by_test_id("lab-beta1").fill("1.5")
    page.get_by_test_id("race").click()
    expect(page.get_by_test_id("lab-status")).to_have_text("error", timeout=LAB_TIMEOUT)
    expect(page.get_by_test_id("lab-message")).to_contain_text("beta1", timeout=LAB_TIMEOUT)
    assert page.console_errors == []


def test_normalization_lab_shows_the_long_valley_and_the_round_bowl(page, live_server):
    page.goto(f"{live_server.url}/labs/normalization")
    lab_status_is_done(page)
    raw, normalized = page.get_by_test_id("panel-raw"), page.get_by_test_id("panel-normalized")
    assert int(normalized.get_attribute("data-steps")) <= 10
    assert raw.get_attribute("data-converged") == "false" or int(raw.get_attribute("data-steps")) > 100
    assert float(page.get_by_test_id("raw-condition").text_content()) > 30
    assert float(page.get_by_test_id("normalized-condition").text_content()) < 1.5
    expect(page.get_by_test_id("raw-chart")).to_have_attribute("data-points", "151", timeout=LAB_TIMEOUT)

    page.get_by_test_id("lr-raw").fill("0.02")
    page.get_by_test_id("normalization-run").click()
    expect(raw).to_have_attribute("data-diverged", "true", timeout=LAB_TIMEOUT)
    expect(page.get_by_test_id("raw-steps")).to_have_text("diverged", timeout=LAB_TIMEOUT)
    assert page.console_errors == []


def test_averages_lab_draws_each_beta_with_and_without_bias_correction(page, live_server):
    page.goto(f"{live_server.url}/labs/averages")
    lab_status_is_done(page)
    rows = page.get_by_test_id("averages-table").locator("tbody tr")
    expect(rows).to_have_count(3, timeout=LAB_TIMEOUT)
    windows = [rows.nth(index).locator("td").nth(1).text_content() for index in range(3)]
    assert windows == ["2.0", "10.0", "50.0"]
    chart = page.get_by_test_id("averages-chart")
    # The series and the three corrected averages; with "show both", the uncorrected ones too.
    expect(chart).to_have_attribute("data-traces", "4", timeout=LAB_TIMEOUT)
    page.get_by_test_id("show-both").check()
    expect(chart).to_have_attribute("data-traces", "7", timeout=LAB_TIMEOUT)
    page.get_by_test_id("show-both").uncheck()
    page.get_by_test_id("bias-correction").uncheck()
    expect(chart).to_have_attribute("data-corrected", "false", timeout=LAB_TIMEOUT)
    first_uncorrected = page.evaluate(
        "() => document.querySelector('[data-testid=averages-chart]').data[3].y[0]")
    first_temperature = page.evaluate(
        "() => document.querySelector('[data-testid=averages-chart]').data[0].y[0]")
    assert first_uncorrected == pytest.approx(0.02 * first_temperature, abs=1e-3)

    page.get_by_test_id("betas").fill("0.9, 1.2")
    page.get_by_test_id("averages-run").click()
    expect(page.get_by_test_id("lab-message")).to_contain_text("betas.1", timeout=LAB_TIMEOUT)
    assert page.console_errors == []


def serve_short_presets(page, live_server) -> list:
    """The server's presets cut to 30 epochs at 1,000 a second: a lesson and its twin train quickly."""
    presets = page.request.get(f"{live_server.url}/api/presets").json()
    for preset in presets:
        preset["config"]["training"].update({"epochs": 30, "epochs_per_second": 1000})
    page.route("**/api/presets", lambda route: route.fulfill(json=presets))
    return presets


def open_page(page, live_server, path: str = "/") -> None:
    page.goto(f"{live_server.url}{path}")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")


def test_lessons_show_raw_curves_and_the_chart_their_view_asks_for(page, live_server):
    open_page(page, live_server)
    smoothing = page.get_by_test_id("smoothing")
    expect(smoothing).to_have_value("0.6")  # free play smooths
    page.get_by_test_id("preset-picker").select_option("batch-gradient-descent")
    expect(smoothing).to_have_value("0")  # a lesson shows the raw curves...
    expect(page.get_by_test_id("chart-mode")).to_have_value("iteration")
    expect(page.get_by_test_id("iteration-chart")).to_be_visible()
    expect(page.get_by_test_id("loss-chart")).to_be_hidden()
    smoothing.fill("0.5")  # ...and smoothing stays a control
    expect(page.locator("#smoothing-value")).to_have_text("0.50")
    page.get_by_test_id("preset-picker").select_option("l2-regularization")
    expect(smoothing).to_have_value("0")
    expect(page.get_by_test_id("loss-chart")).to_be_visible()
    expect(page.get_by_test_id("weights-chart")).to_be_visible()  # the lesson talks about weight norms
    expect(page.get_by_test_id("gradients-chart")).to_be_hidden()
    page.get_by_test_id("preset-picker").select_option("dropout")
    expect(page.get_by_test_id("gradients-chart")).to_be_visible()


def test_a_lessons_counterfactual_trains_its_twin_and_keeps_it_as_a_ghost_named_in_words(page, live_server):
    presets = serve_short_presets(page, live_server)
    counterfactual = next(preset for preset in presets if preset["id"] == "dropout")["counterfactual"]
    posted = []
    page.on("request", lambda request: posted.append(request.post_data_json)
            if request.method == "POST" and request.url.endswith("/api/runs") else None)
    open_page(page, live_server, "/embed?preset=dropout")
    button = page.get_by_test_id("counterfactual")
    expect(button).to_have_text(counterfactual["label"])
    button.click()
    ghosts = page.get_by_test_id("compare-list").get_by_test_id("ghost")
    expect(ghosts).to_have_count(1)
    expect(ghosts.first.locator(".ghost-label")).to_have_text("keep_prob 1")
    expect(page.get_by_test_id("status")).to_have_text("idle")
    expect(page.get_by_test_id("message")).to_contain_text("kept as a ghost")
    legend = page.get_by_test_id("loss-chart-legend")
    expect(legend.locator("li", has_text="keep_prob 1 · dev")).to_have_count(1)
    page.get_by_test_id("start").click()  # the lesson itself, drawn against its twin
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(ghosts).to_have_count(1)
    twin, lesson = posted
    # Lists are replaced, as the server merges a twin: no layer keeps the lesson's dropout.
    assert all(layer["keep_prob"] == 1 for layer in twin["model"]["hidden"])
    assert any(layer["keep_prob"] < 1 for layer in lesson["model"]["hidden"])
    assert twin["data"] == lesson["data"] and twin["optimizer"] == lesson["optimizer"]


def test_only_the_mismatch_lesson_turns_on_the_held_out_points(page, live_server):
    open_page(page, live_server)
    toggle = page.get_by_test_id("show-test-data")
    page.get_by_test_id("preset-picker").select_option("mismatched-dev-test")
    expect(toggle).to_be_checked()
    page.get_by_test_id("preset-picker").select_option("dropout")
    expect(toggle).not_to_be_checked()


def test_the_mismatch_lesson_draws_train_dev_and_ends_in_data_mismatch_not_variance(page, live_server):
    open_page(page, live_server)
    page.get_by_test_id("preset-picker").select_option("mismatched-dev-test")
    # The mismatch is on the plane too: the lesson turns on the dev and test points.
    expect(page.get_by_test_id("show-test-data")).to_be_checked()
    page.get_by_test_id("speed").select_option("max")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    diagnosis = page.get_by_test_id("diagnosis")
    expect(diagnosis).to_have_attribute("data-verdict", "data_mismatch")
    expect(diagnosis.get_by_test_id("verdict")).to_have_text(
        "Data mismatch: dev data differ from training data")
    expect(diagnosis).to_contain_text("Train-dev error")
    expect(diagnosis.locator(".gaps")).to_contain_text("data mismatch")
    for chart in ("loss-chart", "accuracy-chart"):
        expect(page.get_by_test_id(f"{chart}-legend").locator("li", has_text="train-dev")).to_have_count(1)
