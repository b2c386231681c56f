"""The lab pages' charts in Chromium: equal scales, legends, number formats, the mode bar, phones.

The optimizer race is run at 2,000 steps a second (its URL sets the pace), so
each test waits for a race of a fraction of a second.
"""

from __future__ import annotations

import re

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

LAB_TIMEOUT = 20_000
LAB_PAGES = ["/labs/normalization", "/labs/optimizers?steps_per_second=2000", "/labs/averages"]
OPTIMIZER_LABELS = ["Gradient descent", "Momentum", "RMSprop", "Adam"]
# A number written with an SI prefix, as Plotly's default format does: "1p", "100µ", "7.42µ", "2k".
SI_NUMBER = re.compile(r"\d[yzafpnµμmkMGTPE]\b|\d[yzafpnµμmkMGTPE]$")


def lab_is_done(page) -> None:
    expect(page.get_by_test_id("lab-status")).to_have_text("done", timeout=LAB_TIMEOUT)


def plot_area_scales(page, testid: str) -> dict[str, float]:
    """Pixels per data unit along each axis of a chart, from the drawn plot area and the axis ranges."""
    return page.evaluate("""(testid) => {
        const chart = document.querySelector(`[data-testid="${testid}"]`);
        const area = chart.querySelector(".draglayer .xy .nsewdrag").getBoundingClientRect();
        const [x0, x1] = chart._fullLayout.xaxis.range, [y0, y1] = chart._fullLayout.yaxis.range;
        const { width, height } = area;
        return { x: width / (x1 - x0), y: height / (y1 - y0), width, height };
    }""", testid)


def tick_labels(page, testid: str) -> list[str]:
    return page.evaluate("""(testid) => [...document.querySelectorAll(
        `[data-testid="${testid}"] .xtick text, [data-testid="${testid}"] .ytick text`)]
        .map((t) => t.textContent)""", testid)


def hover_text(page, testid: str, curve: int, point: int) -> str:
    """Hover a point of a chart as the mouse would, and read the label Plotly shows."""
    return page.evaluate("""([testid, curve, point]) => {
        const chart = document.querySelector(`[data-testid="${testid}"]`);
        Plotly.Fx.hover(chart, [{ curveNumber: curve, pointNumber: point }]);
        const labels = [...chart.querySelectorAll(".hoverlayer .hovertext")];
        return labels.map((node) => node.textContent).join(" | ");
    }""", [testid, curve, point]).replace("\u2212", "-")  # Plotly writes a minus sign, not a hyphen


@pytest.mark.parametrize("width", [1440, 1000])
def test_the_normalization_lab_draws_both_costs_at_equal_axis_scales(browser, live_server, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/labs/normalization")
    lab_is_done(page)
    for panel in ("raw", "normalized"):
        scales = plot_area_scales(page, f"{panel}-chart")
        # One unit of w1 is as long on screen as one unit of w2 (to a pixel's rounding).
        assert scales["x"] == pytest.approx(scales["y"], rel=0.02), (panel, scales)
        assert min(scales["width"], scales["height"]) > 200, (panel, scales)
    context.close()


def test_the_optimizer_lab_names_each_optimizer_and_writes_no_si_prefixes(page, live_server):
    page.goto(f"{live_server.url}/labs/optimizers?surface=saddle&steps_per_second=2000")
    lab_is_done(page)
    for testid in ("race-chart", "race-loss-chart"):
        legend = page.get_by_test_id(testid).locator(".legend .legendtext")
        expect(legend).to_have_text(OPTIMIZER_LABELS)
    colours = page.evaluate("""() => document.querySelector('[data-testid="race-chart"]').data
        .slice(0, 4).map((trace) => trace.line.color)""")
    assert len(set(colours)) == 4

    # The loss axis spans 1e-12 to 1: written "1e−12" (Plotly's minus sign), never "1p" or "100µ".
    labels = tick_labels(page, "race-loss-chart")
    assert any("e−" in label for label in labels), labels
    assert not [label for label in labels if SI_NUMBER.search(label)], labels
    # Adam has reached the minimum by step 150: the chart's floor, shown as "1e-12" ("1p" in SI).
    shown = hover_text(page, "race-loss-chart", 3, 150)
    assert "1e-12" in shown and not SI_NUMBER.search(shown), shown
    readouts = page.get_by_test_id("outcomes").locator("td").all_text_contents()
    assert not [cell for cell in readouts if SI_NUMBER.search(cell)], readouts
    assert page.console_errors == []


def test_the_averages_lab_writes_tiny_weights_without_si_prefixes(page, live_server):
    page.goto(f"{live_server.url}/labs/averages")
    lab_is_done(page)
    expect(page.get_by_test_id("weights-chart").locator(".legend .legendtext")).to_have_count(3)
    # β = 0.5, 59 days back: (1 − β)β⁵⁹ ≈ 8.7e-19 ("867a" in SI).
    shown = hover_text(page, "weights-chart", 0, 59)
    assert "8.67e-19" in shown, shown
    for testid in ("weights-chart", "averages-chart"):
        labels = tick_labels(page, testid)
        assert labels and not [label for label in labels if SI_NUMBER.search(label)], labels
    assert page.console_errors == []


@pytest.mark.parametrize("path", LAB_PAGES)
def test_the_mode_bar_offers_no_cloud_upload_and_stays_out_of_the_tab_order(page, live_server, path):
    page.goto(f"{live_server.url}{path}")
    lab_is_done(page)
    buttons = page.locator(".modebar-btn")
    expect(buttons.first).to_be_attached()
    titles = buttons.evaluate_all("(nodes) => nodes.map((node) => node.dataset.title)")
    assert "Download plot as a PNG" in titles
    assert not [title for title in titles if "Share" in title or "Chart Studio" in title], titles
    assert buttons.evaluate_all("(nodes) => nodes.filter((node) => node.tabIndex >= 0).length") == 0
    # Plotly's drawing is hidden from screen readers; the chart's own label describes it.
    layers = page.locator(".js-plotly-plot svg.main-svg, .js-plotly-plot canvas")
    assert layers.count() > 0
    hidden = layers.evaluate_all("(nodes) => nodes.map((node) => node.getAttribute('aria-hidden'))")
    assert set(hidden) == {"true"}
    # Tabbing from the top reaches the page's controls and never a mode-bar button.
    for _ in range(12):
        page.keyboard.press("Tab")
        assert not page.evaluate("() => !!document.activeElement.closest('.modebar')")


@pytest.mark.parametrize("path", ["/labs", *LAB_PAGES])
def test_the_labs_fit_a_390_pixel_phone(browser, live_server, path):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(f"{live_server.url}{path}")
    if path != "/labs":
        lab_is_done(page)
    expect(page.get_by_role("navigation", name="Labs")).to_be_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    # Nothing pinned to the screen takes a third of it, and the header scrolls away with the page.
    pinned = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter((node) => ['sticky', 'fixed'].includes(getComputedStyle(node).position))
        .map((node) => node.getBoundingClientRect().height)""")
    assert all(height < 844 / 3 for height in pinned), pinned
    assert page.locator("header").bounding_box()["height"] < 844 / 6
    context.close()
