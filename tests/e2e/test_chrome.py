"""The page's chrome: mode bars, tick labels, controls' texts, messages, idle charts, accessibility."""

from __future__ import annotations

import re

import pytest

from tests.e2e.test_playground import open_playground

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.usefixtures("patient_expect")

FAST = "samples=200&epochs=30&speed=1000&boundaryEvery=5"

# The tick labels of every plotted chart's axes, with their boxes.
TICK_BOXES = """() => [...document.querySelectorAll('.chart.js-plotly-plot')]
    .filter((chart) => chart.offsetParent)
    .map((chart) => ({
        chart: chart.dataset.testid,
        ticks: [...chart.querySelectorAll('.xtick text, .ytick text')].map((text) => {
            const box = text.getBoundingClientRect();
            return {axis: text.closest('.xtick') ? 'x' : 'y', text: text.textContent,
                    box: [box.left, box.top, box.right, box.bottom]};
        }),
    }))"""


def overlapping(ticks):
    """Pairs of tick labels (any axes) whose boxes intersect."""
    pairs = []
    for index, first in enumerate(ticks):
        for second in ticks[index + 1:]:
            a, b = first["box"], second["box"]
            if a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5:
                pairs.append((first["text"], second["text"]))
    return pairs


def test_mode_bars_offer_no_cloud_upload_keep_the_png_and_stay_out_of_the_tab_order(page, live_server):
    open_playground(page, live_server, FAST)
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    buttons = page.locator(".modebar-btn")
    expect(buttons.first).to_be_attached()
    titles = set(buttons.evaluate_all("(buttons) => buttons.map((button) => button.dataset.title)"))
    assert "Download plot as a PNG" in titles
    assert not any("Share" in title or "Cloud" in title or "Studio" in title for title in titles), titles
    assert buttons.evaluate_all("(buttons) => buttons.filter((button) => button.tabIndex >= 0).length") == 0


def test_tick_labels_never_overlap_nor_use_si_prefixes(page, live_server):
    # A tiny learning rate (SI would write "100µ"), a log loss axis under a decade, charts from the origin.
    open_playground(page, live_server, FAST + "&learningRate=0.0001&weights=1&logY=1")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    page.wait_for_function(  # the learning-rate chart has its run's range: ticks in 1e-4
        "() => [...document.querySelectorAll('[data-testid=lr-chart] .ytick text')]"
        ".some((text) => text.textContent.includes('−4'))")
    charts = page.evaluate(TICK_BOXES)
    shown = {chart["chart"] for chart in charts}
    assert shown >= {"loss-chart", "lr-chart", "weights-chart", "accuracy-chart"}
    for chart in charts:
        assert overlapping(chart["ticks"]) == [], chart["chart"]
        texts = [tick["text"] for tick in chart["ticks"]]
        assert not [text for text in texts if re.search(r"\d\s*[pnµumkMG]$", text)], (chart["chart"], texts)
    page.get_by_test_id("show-weights").uncheck()
    expect(page.get_by_test_id("gradients-chart")).to_be_visible()
    for chart in page.evaluate(TICK_BOXES):
        assert overlapping(chart["ticks"]) == [], chart["chart"]


def test_selects_show_their_whole_choice_and_one_epoch_a_second_is_singular(page, live_server):
    open_playground(page, live_server, "optimizer=gd&speed=1")
    expect(page.get_by_test_id("speed").locator("option:checked")).to_have_text("1 epoch/s")
    expect(page.get_by_test_id("speed").locator("option[value='3']")).to_have_text("3 epochs/s")
    clipped = page.evaluate("""() => {
        const context = document.createElement('canvas').getContext('2d');
        const shown = [...document.querySelectorAll('select')].filter((select) => select.offsetParent);
        return shown.flatMap((select) => {
            const style = getComputedStyle(select);
            context.font = `${style.fontSize} ${style.fontFamily}`;
            const text = select.selectedOptions[0]?.textContent ?? '';
            // the arrow takes about 20 px besides the padding
            const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
            const room = select.clientWidth - padding - 16;
            return context.measureText(text).width > room ? [`${select.id}: ${text}`] : [];
        });
    }""")
    assert clipped == []


def test_percentages_never_read_minus_zero(page, live_server):
    open_playground(page, live_server)
    shown = page.evaluate("""async () => {
        const { percent } = await import('/static/js/describe.js');
        return [percent(-0.0004), percent(-0.002), percent(0.1234), percent(null)];
    }""")
    assert shown == ["0.0%", "-0.2%", "12.3%", "–"]


def test_the_done_message_does_not_push_the_page_down(page, live_server):
    open_playground(page, live_server, FAST)
    workspace = page.locator(".workspace")
    before = workspace.bounding_box()["y"]
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("message")).to_contain_text("Done: 30 epochs")
    assert workspace.bounding_box()["y"] == before


def test_idle_charts_show_axes_and_a_hint_and_follow_the_network_being_built(page, live_server):
    open_playground(page, live_server, FAST)
    loss = page.get_by_test_id("loss-chart")
    expect(loss.locator(".annotation-text")).to_have_text("Train to draw the curves")
    expect(loss.locator(".xtick").first).to_be_attached()
    legend = page.get_by_test_id("gradients-chart-legend").locator("li")
    expect(legend).to_have_count(2)
    page.get_by_test_id("add-layer").click()
    expect(legend).to_have_count(3)  # W[1], W[2], W[3] (output): not the page's first network
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(loss.locator(".annotation-text")).to_have_count(0)


def test_chart_canvases_are_hidden_from_screen_readers_and_neuron_maps_are_named(page, live_server):
    open_playground(page, live_server, FAST)
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('canvas')]
        .filter((canvas) => canvas.getAttribute('aria-hidden') !== 'true')
        .filter((canvas) => !canvas.getAttribute('aria-label'))
        .map((canvas) => canvas.className)""")
    assert unlabelled == []
    assert page.locator(".outputs canvas:not([aria-hidden=true])").count() == 0
