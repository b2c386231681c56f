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
