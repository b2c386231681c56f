"""The search page in a real browser, with trials on real worker processes.

Trials are tiny (the page's quick base config, 15 epochs), so a 12-trial
search finishes in a few seconds.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

# Starting the worker processes of the first search takes a few seconds on a busy machine.
SEARCH_SECONDS = 30_000


def open_search(page, live_server):
    page.goto(f"{live_server.url}/search")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.get_by_test_id("param-rows").locator(".param-row")).to_have_count(10)


def start_tiny_search(page, trials: int = 12):
    page.get_by_test_id("search-trials").fill(str(trials))
    page.get_by_test_id("base-epochs").fill("15")
    page.get_by_test_id("search-start").click()


def fragment_pairs(href: str) -> dict[str, str]:
    assert href.startswith("/#"), href
    return dict(pair.split("=", 1) for pair in href[2:].split("&"))


def test_a_search_fills_the_charts_and_opens_its_best_trial_in_the_playground(page, live_server):
    open_search(page, live_server)
    start_tiny_search(page)

    scatter = page.get_by_test_id("search-scatter")
    expect(scatter).not_to_have_attribute("data-points", "0", timeout=SEARCH_SECONDS)
    expect(page.get_by_test_id("search-status")).to_have_text("done", timeout=SEARCH_SECONDS)
    expect(page.get_by_test_id("search-progress")).to_have_text("12 of 12 trials finished")
    rows = page.get_by_test_id("search-row")
    expect(rows).to_have_count(12)
    completed = page.locator('[data-testid="search-row"][data-status="completed"]').count()
    expect(scatter).to_have_attribute("data-points", str(completed))
    expect(page.get_by_test_id("search-parcoords")).to_have_attribute("data-lines", str(completed))

    # The best trial: one highlighted row, the star on the scatter, the summary box.
    best_row = page.locator('[data-testid="search-row"].best')
    expect(best_row).to_have_count(1)
    best_index = best_row.get_attribute("data-index")
    expect(scatter).to_have_attribute("data-best", best_index)
    open_link = page.get_by_test_id("open-in-playground")
    expect(open_link).to_have_attribute("data-index", best_index)
    # The summary says what the ranking used: the objective, then the dev loss that breaks its ties.
    expect(page.get_by_test_id("best-trial")).to_contain_text(
        re.compile(r"dev accuracy 0\.\d+ \(dev loss \d\.\d+(e-\d+)?, which breaks ties\)"))
    best = page.evaluate("() => { const r = window.searchPage.results; return r.runConfig(r.best); }")
    assert best["training"]["epochs"] == 15

    # Sorting by dev accuracy puts the best value first.
    page.get_by_role("button", name="dev acc").click()
    best_accuracy = best_row.locator("td").nth(3).text_content()
    expect(rows.first.locator("td").nth(3)).to_have_text(best_accuracy)

    # The link's fragment is the playground's URL state of that trial's config.
    href = open_link.get_attribute("href")
    pairs = {key: unquote(value) for key, value in fragment_pairs(href).items()}
    assert float(pairs["learningRate"]) == best["optimizer"]["learning_rate"]
    assert pairs["dataset"] == best["data"]["dataset"]
    assert int(pairs["epochs"]) == 15 and int(pairs["seed"]) == best["seed"]
    assert pairs["layers"] == "-".join([str(best["model"]["hidden"][0]["units"]), "relu"])
    assert "speed" not in pairs  # the playground keeps its watchable pace

    assert page.console_errors == []
    page.goto(f"{live_server.url}{href}")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    shown = page.evaluate("(value) => String(value)", best["optimizer"]["learning_rate"])
    expect(page.get_by_test_id("learning-rate")).to_have_value(shown)
    expect(page.get_by_test_id("message")).to_be_hidden()  # no part of the link was rejected


def test_presets_fill_the_form_a_bad_range_is_named_and_a_search_can_be_stopped_and_zoomed(page, live_server):
    open_search(page, live_server)
    listed = page.evaluate("() => fetch('/api/searches/presets').then((response) => response.json())")
    presets = {preset["id"]: preset for preset in listed}
    for preset_id in ("one-that-matters-grid", "one-that-matters-random"):
        page.get_by_test_id(f"search-preset-{preset_id}").click()
        definition = page.evaluate("() => window.searchPage.form.read()")
        expected = presets[preset_id]["definition"]
        assert definition["space"] == expected["space"]
        assert (definition["strategy"], definition["trials"]) == (expected["strategy"], 9)
    epsilon = page.get_by_test_id("param-enable-optimizer-epsilon")
    expect(epsilon).to_be_checked()
    epsilon.uncheck()

    high = page.get_by_test_id("param-high-optimizer-learning_rate")
    high.fill("50")
    high.press("Tab")
    page.get_by_test_id("search-start").click()
    error = page.get_by_test_id("search-error")
    expect(error).to_contain_text("invalid search")
    expect(error).to_contain_text(
        "space.optimizer.learning_rate.high: Input should be less than or equal to 10")
    expect(page.get_by_test_id("search-status")).to_have_text("idle")
    expect(page.locator('.param-row[data-path="optimizer.learning_rate"]')).to_have_class(re.compile("invalid"))
    high.fill("1")
    high.press("Tab")

    # A long search, stopped: its running trials end at their next epoch.
    page.get_by_test_id("search-trials").fill("4")
    page.get_by_test_id("base-epochs").fill("10000")
    page.get_by_test_id("search-start").click()
    expect(page.locator('[data-testid="search-row"][data-status="running"]')).not_to_have_count(
        0, timeout=SEARCH_SECONDS)
    page.get_by_test_id("search-stop").click()
    expect(page.get_by_test_id("search-status")).to_have_text("stopped", timeout=SEARCH_SECONDS)
    expect(error).to_be_hidden()

    # On a linear scale the search samples uniformly; zoom narrows on that scale.
    scale = page.get_by_test_id("param-scale-optimizer-learning_rate")
    scale.click()
    expect(scale).to_have_text("lin")
    start_tiny_search(page, trials=6)
    expect(page.get_by_test_id("search-status")).to_have_text("done", timeout=SEARCH_SECONDS)
    space = page.evaluate("() => window.searchPage.results.definition.space")
    assert space == {"optimizer.learning_rate": {"distribution": "uniform", "low": 0.0001, "high": 1.0}}
    best_rate = page.evaluate("() => window.searchPage.results.best.config['optimizer.learning_rate']")
    page.get_by_test_id("search-top-k").fill("1")
    page.get_by_test_id("search-zoom").click()
    expect(page.get_by_test_id("search-lineage")).to_have_text(
        "zoomed in around the best trial of the previous search")
    expect(page.get_by_test_id("search-status")).to_have_text("done", timeout=SEARCH_SECONDS)
    expect(page.get_by_test_id("search-progress")).to_have_text(re.compile(r"^6 of 6 trials finished$"))
    expect(scale).to_have_text("lin")
    # One best trial: its value, padded by a tenth of the old width on each side, clipped.
    zoomed = page.evaluate("() => window.searchPage.results.definition.space['optimizer.learning_rate']")
    assert zoomed["distribution"] == "uniform"
    assert zoomed["low"] == pytest.approx(max(1e-4, best_rate - 0.1 * (1 - 1e-4)))
    assert zoomed["high"] == pytest.approx(min(1.0, best_rate + 0.1 * (1 - 1e-4)))
    low = float(page.get_by_test_id("param-low-optimizer-learning_rate").input_value())
    assert low == pytest.approx(zoomed["low"], rel=1e-2)  # the form shows the zoomed range
    assert page.console_errors == []


def test_a_zoomed_round_is_drawn_over_the_coarse_one(page, live_server):
    open_search(page, live_server)
    start_tiny_search(page, trials=8)
    status = page.get_by_test_id("search-status")
    expect(status).to_have_text("done", timeout=SEARCH_SECONDS)
    scatter = page.get_by_test_id("search-scatter")
    expect(scatter).to_have_attribute("data-rounds", "1")
    coarse = page.evaluate("() => window.searchPage.results.scored.map((trial) => trial.index)")
    assert coarse

    page.get_by_test_id("search-top-k").fill("2")
    page.get_by_test_id("search-zoom").click()
    expect(page.get_by_test_id("search-lineage")).to_contain_text("zoomed in around the best 2 trials")
    expect(status).to_have_text("done", timeout=SEARCH_SECONDS)
    # Both rounds on one chart: the coarse one kept (hollow, its own colour), the zoomed one over it.
    expect(scatter).to_have_attribute("data-rounds", "2")
    expect(scatter).to_have_attribute("data-earlier-points", str(len(coarse)))
    traces = page.evaluate("""() => document.querySelector('[data-testid="search-scatter"]').data
        .map((trace) => ({ name: trace.name, points: trace.x.length, symbol: trace.marker.symbol || 'circle',
          color: trace.marker.color }))""")
    by_name = {trace["name"]: trace for trace in traces}
    assert by_name["round 1 (coarse)"]["points"] == len(coarse)
    zoomed = by_name["round 2 (zoomed)"]["points"] + by_name["best"]["points"]
    assert zoomed == int(scatter.get_attribute("data-points")) > 0
    assert by_name["round 1 (coarse)"]["symbol"] != by_name["round 2 (zoomed)"]["symbol"]
    assert by_name["round 1 (coarse)"]["color"] != by_name["round 2 (zoomed)"]["color"]
    # Drawn, not only listed: the coarse round's markers are on the plot.
    drawn = scatter.locator(".scatterlayer .trace").first.locator("path.point")
    expect(drawn).to_have_count(len(coarse))
    assert drawn.first.bounding_box()["width"] > 4
    legend = scatter.locator(".legend .legendtext").all_text_contents()
    assert "round 1 (coarse)" in legend and "round 2 (zoomed)" in legend
    # The zoomed range is shaded; the learning-rate axis is written without SI prefixes ("1e−4", not "100µ").
    band = page.evaluate("() => document.querySelector('[data-testid=\"search-scatter\"]').layout.shapes")
    space = page.evaluate("() => window.searchPage.results.definition.space['optimizer.learning_rate']")
    assert [(shape["x0"], shape["x1"]) for shape in band] == [(space["low"], space["high"])]
    ticks = scatter.locator(".xtick text, .ytick text").all_text_contents()
    assert ticks and not [tick for tick in ticks if re.search(r"\d[pnµμmk]$", tick)], ticks

    # A fresh search starts a new first round.
    page.get_by_test_id("search-start").click()
    expect(status).to_have_text("done", timeout=SEARCH_SECONDS)
    expect(scatter).to_have_attribute("data-rounds", "1")
    expect(scatter).to_have_attribute("data-earlier-points", "0")
    assert page.console_errors == []


def test_the_search_page_links_to_the_playground_and_the_labs_and_back(page, live_server):
    open_search(page, live_server)
    icon = page.locator('head link[rel="icon"]')
    expect(icon).to_have_attribute("href", "/static/favicon.svg")
    assert page.request.get(f"{live_server.url}/static/favicon.svg").status == 200
    nav = page.get_by_test_id("search-nav")
    expect(nav.get_by_role("link", name="Search")).to_have_attribute("aria-current", "page")
    nav.get_by_role("link", name="Lessons and labs").click()
    expect(page).to_have_url(f"{live_server.url}/labs")
    page.get_by_role("navigation", name="Labs").get_by_role("link", name="Search").click()
    expect(page).to_have_url(f"{live_server.url}/search")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.get_by_test_id("search-nav").get_by_role("link", name="Playground").click()
    expect(page).to_have_url(f"{live_server.url}/")
    page.get_by_role("link", name="Search").first.click()
    expect(page).to_have_url(f"{live_server.url}/search")


def test_the_search_charts_mode_bar_has_no_cloud_button_and_no_tab_stops(page, live_server):
    open_search(page, live_server)
    start_tiny_search(page, trials=4)
    expect(page.get_by_test_id("search-status")).to_have_text("done", timeout=SEARCH_SECONDS)
    buttons = page.get_by_test_id("search-scatter").locator(".modebar-btn")
    titles = buttons.evaluate_all("(nodes) => nodes.map((node) => node.dataset.title)")
    assert "Download plot as a PNG" in titles and not [title for title in titles if "Share" in title]
    assert buttons.evaluate_all("(nodes) => nodes.filter((node) => node.tabIndex >= 0).length") == 0
    hidden = page.locator(".js-plotly-plot svg.main-svg, .js-plotly-plot canvas").evaluate_all(
        "(nodes) => nodes.map((node) => node.getAttribute('aria-hidden'))")
    assert hidden and set(hidden) == {"true"}


def test_the_slider_reach_comes_from_the_config_schema(page, live_server):
    schema = page.request.get(f"{live_server.url}/api/schema").json()
    limits = {"Layer": ("units", 512), "Training": ("batch_size", 5000)}
    for model, (field, served) in limits.items():
        assert schema["$defs"][model]["properties"][field]["maximum"] == served
    # A server whose schema allows less: the page follows it, not a number of its own.
    schema["$defs"]["Layer"]["properties"]["units"]["maximum"] = 300
    schema["$defs"]["Training"]["properties"]["batch_size"]["maximum"] = 2000
    page.route("**/api/schema", lambda route: route.fulfill(json=schema))
    open_search(page, live_server)
    for key, top in (("model-hidden-0-units", "300"), ("training-batch_size", "2000")):
        page.get_by_test_id(f"param-high-slider-{key}").fill("1000")
        expect(page.get_by_test_id(f"param-high-{key}")).to_have_value(top)
    choices = page.locator('.param-row[data-path="optimizer.name"] input[type="checkbox"][value]')
    assert choices.evaluate_all("(nodes) => nodes.map((node) => node.value)") == \
        schema["$defs"]["Optimizer"]["properties"]["name"]["enum"]
    assert page.console_errors == []


def test_the_search_stream_resumes_after_a_failed_connection_without_loss_or_repeats(page, live_server):
    open_search(page, live_server)
    created = page.request.post(f"{live_server.url}/api/searches", data={
        "base": {"data": {"dataset": "moons", "n_samples": 200}, "training": {"epochs": 5}},
        "space": {"optimizer.learning_rate": {"distribution": "log_uniform", "low": 1e-3, "high": 1}},
        "trials": 4})
    assert created.status == 201
    body = created.json()
    # A finished search's stream is its whole log, read here as the reference.
    wait_until_done = f"""async () => {{
        while ((await (await fetch('{body["status_url"]}')).json()).status !== 'done') {{
            await new Promise((resolve) => setTimeout(resolve, 100));
        }}
    }}"""
    page.evaluate(wait_until_done)
    everything = page.request.get(f"{live_server.url}{body['events_url']}").text()
    blocks = [block for block in everything.split("\n\n") if block.startswith(("id:", "event:"))]
    ids = [int(line[3:]) for block in blocks for line in block.splitlines() if line.startswith("id:")]
    assert ids == list(range(1, len(ids) + 1)) and len(ids) > 4
    requests: list[str] = []

    def serve(route):
        requests.append(route.request.url)
        if len(requests) == 1:  # three events, then the connection ends
            route.fulfill(status=200, content_type="text/event-stream",
                          body="retry: 50\n\n" + "\n\n".join(blocks[:3]) + "\n\n")
        elif len(requests) == 2:  # the browser's own reconnect is refused: it gives up
            route.fulfill(status=503, body="")
        else:
            route.continue_()

    page.route(f"**{body['events_url']}*", serve)
    delivered = page.evaluate("""(url) => new Promise((resolve) => {
        const seen = [];
        import('/static/search/stream.js').then(({ followSearch }) => {
            const onEvent = (name) => { seen.push(name); if (name === 'done') resolve(seen); };
            followSearch(url, { onEvent, onLost: () => resolve(['lost', ...seen]) });
        });
    })""", body["events_url"])
    names = [line[7:] for block in blocks for line in block.splitlines() if line.startswith("event: ")]
    assert delivered == names
    assert requests[-1].endswith(f"since={ids[2]}")
