"""The network diagram's neuron maps and input features, data before training, the boundary's toggles."""

from __future__ import annotations

import re

import pytest

from tests.e2e.test_playground import epoch_at_least, open_playground

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.usefixtures("patient_expect")

SLOW = "samples=200&epochs=5000&speed=30&boundaryEvery=1&layers=4-tanh,3-relu"
FAST = "samples=200&epochs=30&speed=1000&boundaryEvery=5"


def canvas_pixels(page, locator) -> str:
    """A canvas's pixels, as its data URL."""
    return locator.evaluate("(canvas) => canvas.toDataURL()")


def test_every_hidden_neuron_is_a_named_live_map(page, live_server):
    open_playground(page, live_server, SLOW)
    maps = page.get_by_test_id("neuron-map")
    expect(maps).to_have_count(7)
    expect(maps.nth(0)).to_have_attribute("aria-label", "Layer 1, neuron 1 (tanh)")
    expect(maps.nth(6)).to_have_attribute("aria-label", "Layer 2, neuron 3 (ReLU)")
    blank = canvas_pixels(page, maps.nth(0))
    page.get_by_test_id("start").click()
    diagram = page.get_by_test_id("network-diagram")
    expect(diagram).to_have_attribute("data-epoch", re.compile(r"^\d+$"))
    first = diagram.get_attribute("data-epoch")
    drawn = canvas_pixels(page, maps.nth(0))
    assert drawn != blank
    page.wait_for_function(
        "(first) => Number(document.querySelector('[data-testid=network-diagram]').dataset.epoch)"
        " > Number(first) + 5",
        arg=first)
    assert canvas_pixels(page, maps.nth(0)) != drawn  # it keeps changing as the network trains
    # the links follow the weights: colours and widths set, not the idle grey
    looks = page.get_by_test_id("diagram-links").get_attribute("data-looks").split(",")
    assert "" not in looks and len({abs(float(look)) for look in looks}) > 3
    assert any(look.startswith("-") for look in looks) and not all(look.startswith("-") for look in looks)
    page.get_by_test_id("start").click()
    assert page.console_errors == []


def test_hovering_or_focusing_a_neuron_shows_it_large_and_names_it(page, live_server):
    open_playground(page, live_server, SLOW)
    page.get_by_test_id("start").click()
    epoch_at_least(page, 3)
    expect(page.get_by_test_id("network-diagram")).to_have_attribute("data-epoch", re.compile(r"^\d+$"))
    label = page.get_by_test_id("boundary-label")
    board = page.get_by_test_id("boundary-map")
    expect(label).to_be_hidden()
    page.get_by_test_id("neuron-map").nth(1).hover()
    expect(label).to_have_text("Layer 1, neuron 2 (tanh)")
    expect(board).to_have_attribute("data-showing", "neuron")
    assert board.evaluate("(canvas) => canvas.width") == 16  # the neuron's grid, not the boundary's
    page.mouse.move(5, 5)
    expect(label).to_be_hidden()
    expect(board).not_to_have_attribute("data-showing", "neuron")
    page.get_by_test_id("neuron-map").nth(5).focus()
    expect(label).to_have_text("Layer 2, neuron 2 (ReLU)")
    page.keyboard.press("Tab")
    expect(label).not_to_have_text("Layer 2, neuron 2 (ReLU)")
    assert page.console_errors == []


def test_the_data_are_on_the_plane_before_training_and_follow_the_data_settings(page, live_server):
    open_playground(page, live_server, "samples=200")
    points = page.get_by_test_id("boundary-points")
    expect(points).to_have_attribute("data-points", "120")  # the 120 train points alone, before any run
    caption = page.locator("#boundary-caption")
    expect(caption).to_have_text("Decision boundary (train ●)")
    expect(page.get_by_test_id("status")).to_have_text("idle")
    page.get_by_test_id("show-test-data").check()
    expect(points).to_have_attribute("data-points", "200")  # and the 40 dev and 40 test points
    expect(caption).to_contain_text("dev ✕, test ○")
    samples = page.locator("[data-prop=samples]")
    samples.fill("300")
    samples.press("Tab")
    expect(points).to_have_attribute("data-points", "300")
    page.get_by_test_id("show-test-data").uncheck()
    expect(points).to_have_attribute("data-points", "180")
    expect(caption).to_have_text("Decision boundary (train ●)")
    assert page.console_errors == []


def test_input_features_toggle_in_the_diagram_and_reach_the_url_and_the_network(page, live_server):
    open_playground(page, live_server, "samples=200&layers=none")
    features = page.get_by_test_id("features")
    square = features.locator("[data-feature=x1_squared]")
    expect(square).to_have_attribute("aria-pressed", "false")
    expect(features.locator("[data-feature=x1]")).to_have_attribute("aria-pressed", "true")
    square.click()
    expect(square).to_have_attribute("aria-pressed", "true")
    page.wait_for_function("() => location.hash.includes('features=x1,x2,x1_squared')")
    expect(page.locator("#layer-count")).to_contain_text("4 parameters")  # 3 weights and a bias
    features.locator("[data-feature=x1]").click()
    features.locator("[data-feature=x2]").click()
    page.wait_for_function("() => location.hash.includes('features=x1_squared&')")
    features.locator("[data-feature=x1_squared]").click()  # the last one stays
    expect(square).to_have_attribute("aria-pressed", "true")
    # the feature's own picture, from the engine, painted in its node
    assert canvas_pixels(page, square.locator("canvas")) != canvas_pixels(page, page.locator("canvas").last)
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.get_by_test_id("features").locator("[data-feature=x1_squared]")).to_have_attribute(
        "aria-pressed", "true")
    plain = page.get_by_test_id("features").locator("[data-feature=x1]")
    expect(plain).to_have_attribute("aria-pressed", "false")
    assert page.console_errors == []


def test_squared_features_let_logistic_regression_close_the_circle(page, live_server):
    open_playground(page, live_server, FAST + "&layers=none&features=x1_squared,x2_squared&noise=0.05")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(page.get_by_test_id("message")).to_contain_text(re.compile(r"dev (9\d|100)\.\d%"))
    assert page.console_errors == []


def test_toggles_round_trip_through_the_url_and_discretize_paints_two_colours(page, live_server):
    open_playground(page, live_server, FAST + "&discretize=1&showTestData=1")
    expect(page.get_by_test_id("discretize")).to_be_checked()
    expect(page.get_by_test_id("show-test-data")).to_be_checked()
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    board = page.get_by_test_id("boundary-map")
    expect(board).to_have_attribute("data-discretized", "true")
    colours = board.evaluate("""(canvas) => {
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        const seen = new Set();
        for (let at = 0; at < data.length; at += 4) seen.add(`${data[at]},${data[at + 1]},${data[at + 2]}`);
        return seen.size;
    }""")
    assert colours == 2
    page.get_by_test_id("discretize").uncheck()
    expect(board).to_have_attribute("data-discretized", "false")
    page.wait_for_function("() => location.hash.includes('discretize=0')")
    assert page.console_errors == []


def test_dead_and_identical_neurons_are_marked(page, live_server):
    open_playground(page, live_server, FAST + "&init=zeros&layers=3-sigmoid&optimizer=gd&learningRate=0.5")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(page.locator("[data-testid=neuron-map].identical")).to_have_count(3)
    open_playground(page, live_server, FAST + "&init=zeros&layers=3-relu&noise=0.2")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(page.locator("[data-testid=neuron-map].dead")).to_have_count(3)
    expect(page.get_by_test_id("neuron-map").first).to_have_attribute("title", re.compile("dead"))


DROPPED_UNITS = ("() => [...document.querySelectorAll('[data-testid=neuron-map].dropped')]"
                 ".map((map) => map.dataset.unit).join(',')")


def test_units_dropped_by_dropout_are_crossed_out_and_change_as_it_trains(page, live_server):
    open_playground(page, live_server, "samples=200&epochs=5000&speed=30&boundaryEvery=1&layers=8-tanh-k0.5")
    dropped = page.locator("[data-testid=neuron-map].dropped")
    expect(dropped).to_have_count(0)  # no training step has dropped anything yet
    page.get_by_test_id("start").click()
    page.wait_for_function(f"() => ({DROPPED_UNITS})() !== ''")
    first = page.evaluate(DROPPED_UNITS)
    # a new mask at every step: another example's units are crossed out a few events later
    page.wait_for_function(f"(first) => ({DROPPED_UNITS})() !== first", arg=first)
    page.wait_for_function(f"() => ({DROPPED_UNITS})() !== ''")
    expect(dropped.first).to_have_attribute("title", re.compile("dropped for one example in the latest step"))
    tag = page.locator("#network-diagram .tag.drop")
    expect(tag).to_have_attribute("title", re.compile("dropped for one example"))
    page.get_by_test_id("start").click()
    assert page.console_errors == []


def test_wide_and_deep_networks_are_summarized(page, live_server):
    layers = ",".join(["16-relu"] * 9)
    open_playground(page, live_server, f"samples=200&layers={layers}")
    expect(page.get_by_test_id("neuron-map")).to_have_count(6 * 8)
    diagram = page.get_by_test_id("network-diagram")
    expect(diagram).to_contain_text("+3 layers")
    expect(diagram.locator(".diagram-label .more").first).to_have_text(" +8")
    box = diagram.bounding_box()
    assert box["height"] < 300


def test_the_diagram_speaks_korean(page, live_server):
    layers = ",".join(["16-relu-k0.8-bn"] * 9)
    open_playground(page, live_server, f"samples=200&layers={layers}", path="/?lang=ko")
    diagram = page.get_by_test_id("network-diagram")
    first = page.get_by_test_id("neuron-map").first
    expect(first).to_have_attribute("aria-label", "layer 1, neuron 1 (ReLU)")
    expect(diagram).to_contain_text("+3개 layer")
    expect(diagram.locator(".diagram-label .more").first).to_have_text(" +8개")
    expect(diagram.locator(".tag.drop").first).to_have_attribute("title", re.compile("X 표시된 unit 은"))
    expect(page.get_by_test_id("features").locator("[data-feature=x1]")).to_have_attribute(
        "aria-label", "입력 feature x₁: 사용 중")
    expect(page.locator("#boundary-caption")).to_have_text("Decision boundary (train ●)")
    assert page.console_errors == []


def test_digits_go_back_to_the_default_features_and_draw_their_pixels_as_one_input(page, live_server):
    open_playground(page, live_server, "samples=400&features=x1_squared&epochs=2&speed=1000")
    page.get_by_test_id("dataset").select_option("digits")
    diagram = page.get_by_test_id("network-diagram")
    expect(diagram.locator(".diagram-node.pixels")).to_have_text("64")
    expect(page.get_by_test_id("features")).to_have_count(0)
    page.wait_for_function("() => location.hash.includes('features=x1,x2&')")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    assert page.console_errors == []


def test_regenerating_the_data_draws_new_points_and_keeps_the_network(page, live_server):
    open_playground(page, live_server, "samples=200&layers=5-tanh")
    points = page.get_by_test_id("boundary-points")
    expect(points).to_have_attribute("data-points", "120")
    before = canvas_pixels(page, points)
    page.get_by_test_id("regenerate-data").click()
    page.wait_for_function("() => /dataSeed=\\d+/.test(location.hash)")
    page.wait_for_function("(before) => document.querySelector('[data-testid=boundary-points]')"
                           ".toDataURL() !== before", arg=before)
    expect(page.get_by_test_id("neuron-map")).to_have_count(5)
    assert "layers=5-tanh" in page.url and "seed=0" in page.url
