"""The playground page in Chromium against the real app: runs, live control, network builder, sharing.

Runs here are small (a few hundred samples, tens of epochs) and paced fast through
the URL fragment, so each test takes a second or two.  ``wait_for_function`` is
always given a function, never an expression: Playwright evaluates expressions
with ``eval``, which the page's Content-Security-Policy forbids.
"""

from __future__ import annotations

import json
import math
import re

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect


pytestmark = pytest.mark.usefixtures("patient_expect")

FAST = "samples=200&epochs=40&speed=1000&boundaryEvery=5"
SLOW = "samples=200&epochs=5000&speed=60"
DIVERGING = ("samples=200&epochs=60&speed=1000&optimizer=momentum&learningRate=10"
             "&layers=8-linear,8-linear,8-linear")


def open_playground(page, live_server, fragment: str = "", path: str = "/"):
    page.goto(f"{live_server.url}{path}#{fragment}")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    return page


def epoch_at_least(page, epoch: int) -> None:
    page.wait_for_function(
        "n => Number(document.querySelector('[data-testid=epoch]').textContent) >= n", arg=epoch)


def trace_values(page, testid: str, name: str) -> list:
    """The y values Plotly holds for the trace called ``name`` in chart ``testid``."""
    return page.evaluate(
        """([testid, name]) => {
            const chart = document.querySelector(`[data-testid="${testid}"]`);
            const trace = chart.data.find((candidate) => candidate.name === name);
            return trace ? Array.from(trace.y) : null;
        }""", [testid, name])


def loss_x_range(page) -> list:
    return page.evaluate(
        "() => document.querySelector('[data-testid=loss-chart]')._fullLayout.xaxis.range.slice()")


def type_value(control, value: str) -> None:
    """Type into a field and leave it, as a user would (the page reads fields on change)."""
    control.fill(value)
    control.press("Tab")


def server_epoch(page, live_server) -> int:
    run_id = page.locator("body").get_attribute("data-run-id")
    response = page.request.get(f"{live_server.url}/api/runs/{run_id}")
    assert response.status == 200
    return response.json()["latest"]["epoch"]


def test_a_run_advances_both_loss_curves_to_done_with_smoothing_over_the_raw_curve(page, live_server):
    open_playground(page, live_server, FAST + "&smoothing=0.9")
    expect(page.get_by_test_id("status")).to_have_text("idle")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(page.get_by_test_id("epoch")).to_have_text("40")
    expect(page.get_by_test_id("loss-chart")).to_have_attribute("data-epochs", "40")
    train_loss = trace_values(page, "loss-chart", "train (raw)")
    dev_loss = trace_values(page, "loss-chart", "dev (raw)")
    assert len(train_loss) == len(dev_loss) == 41  # epoch 0 and every epoch after it
    assert train_loss[-1] < train_loss[0] and dev_loss[-1] < dev_loss[0]
    smooth = trace_values(page, "loss-chart", "train")
    assert smooth[0] == pytest.approx(train_loss[0])  # bias correction: no pull towards zero at the start
    assert smooth != pytest.approx(train_loss)
    expect(page.get_by_test_id("accuracy-chart")).to_have_attribute("data-epochs", "40")
    assert loss_x_range(page) == [0, 40]  # the run's length, not the next round number
    expect(page.get_by_test_id("boundary-map")).to_have_attribute("data-epoch", re.compile(r"^(35|40)$"))
    assert page.evaluate("() => document.querySelector('[data-testid=boundary-map]').width") >= 10
    expect(page.get_by_test_id("diagnosis").get_by_test_id("verdict")).to_be_visible()
    expect(page.get_by_test_id("message")).to_contain_text("Done: 40 epochs")
    page.get_by_test_id("smoothing").fill("0")
    page.wait_for_function(  # unsmoothed: the raw curves are the curves
        "() => document.querySelector('[data-testid=loss-chart]').data.map((t) => t.name).join()"
        " === 'train,dev,train cost'")
    assert page.console_errors == []


def test_a_falling_curve_grows_its_y_range_downwards_in_a_few_steps_and_keeps_its_top(page, live_server):
    open_playground(page, live_server)
    changes, final = page.evaluate("""async () => {
        const { grownYRange } = await import('/static/js/charts/line_canvas.js');
        let range = null, changes = 0, low = Infinity, high = -Infinity;
        for (let epoch = 0; epoch < 600; epoch += 1) {  // a loss falling from 0.71 to 0.02, jittering
            const value = 0.69 * Math.exp(-epoch / 150) + 0.02 + 0.01 * Math.sin(epoch * 1.7);
            low = Math.min(low, value);
            high = Math.max(high, value);
            const next = grownYRange(range, [low, high]);
            if (next !== range) changes += 1;
            range = next;
        }
        return [changes, range];
    }""")
    assert changes <= 12  # each change is a Plotly relayout of 10 to 40 ms
    assert 0.71 < final[1] < 0.8  # growing the bottom leaves the top where the first points put it
    assert final[0] == 0  # and a loss's axis stops at 0


def test_a_falling_log_curve_grows_only_the_bottom_of_its_range(page, live_server):
    open_playground(page, live_server)
    ranges = page.evaluate("""async () => {
        const { grownYRange } = await import('/static/js/charts/line_canvas.js');
        let range = null, low = Infinity, high = -Infinity;
        const ranges = [];
        for (let epoch = 0; epoch < 2000; epoch += 1) {  // a gradient norm falling four decades, jittering
            const value = 2 * 10 ** (-epoch / 500) * (1 + 0.3 * Math.sin(epoch * 1.3));
            low = Math.min(low, value);
            high = Math.max(high, value);
            const next = grownYRange(range, [low, high], { log: true });
            if (next !== range) ranges.push(next);
            range = next;
        }
        return ranges;
    }""")
    tops = {top for _, top in ranges}
    assert tops == {ranges[0][1]}  # the top stays where the first points put it
    assert ranges[-1][0] <= math.log10(2 * 10 ** -4 * 0.7)  # the bottom holds the lowest value
    assert all(low * 2 == round(low * 2) for low, _ in ranges)  # whole half-decades
    assert len(ranges) <= 6  # four decades in a few steps: each is a Plotly relayout


def test_a_log_axis_relayout_sends_new_ticks_only_when_they_change(page, live_server):
    """A relayout with ticks redraws every axis of the chart; one with a range alone, the axis that moved."""
    open_playground(page, live_server)
    relayouts = page.evaluate("""async () => {
        const { CurveChart } = await import('/static/js/charts/curve_chart.js');
        const frame = document.createElement('div');
        frame.style.cssText = 'position: relative; width: 500px; height: 300px';
        const element = document.createElement('div');
        element.dataset.testid = 'probe-chart';
        element.style.cssText = 'width: 500px; height: 260px';
        frame.append(element);
        document.body.prepend(frame);
        const chart = new CurveChart(element, { yTitle: 'norm', logY: true, decadeTicks: true,
            smoothable: false, series: [{ key: 'norm', name: 'norm', color: '#000' }] });
        chart.planEpochs(400);
        const relayouts = [];
        const relayout = Plotly.relayout;
        Plotly.relayout = (gd, update) => {
            if (gd === element) relayouts.push({ update, shown: (gd.layout.yaxis.tickvals ?? []).slice() });
            return relayout(gd, update);
        };
        for (let epoch = 0; epoch <= 400; epoch += 1) {
            chart.push(epoch, { norm: 10 ** (-epoch / 80) });  // five decades down
            if (epoch % 10 === 0) { chart.flush(); await new Promise(requestAnimationFrame); }
        }
        Plotly.relayout = relayout;
        const axes = element._fullLayout;
        return { relayouts, overflow: [axes.xaxis.ticklabeloverflow, axes.yaxis.ticklabeloverflow] };
    }""")
    updates = relayouts["relayouts"]
    assert updates and all("yaxis.range" in entry["update"] for entry in updates)
    with_ticks = [entry for entry in updates if "yaxis.tickvals" in entry["update"]]
    assert all(entry["update"]["yaxis.tickvals"] != entry["shown"] for entry in with_ticks)
    assert len(with_ticks) < len(updates)  # some growths keep the ticks: the range goes alone
    # Plotly's default ("hide past div") measures every tick label on each relayout.
    assert relayouts["overflow"] == ["allow", "allow"]
    assert page.console_errors == []


def test_the_boundary_draws_the_train_points_and_names_the_one_under_the_pointer(page, live_server):
    open_playground(page, live_server, FAST)
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    points = page.get_by_test_id("boundary-points")
    expect(points).to_have_attribute("data-points", "120")  # of 200 samples: the 120 train points
    tooltip = page.get_by_test_id("boundary-chart-tooltip")
    expect(tooltip).to_be_hidden()
    area = points.bounding_box()

    def names_under_a_diagonal() -> set:
        seen = set()
        for step in range(41):  # a pointer crossing the plot diagonally passes over points of the ring
            page.mouse.move(area["x"] + area["width"] * step / 40, area["y"] + area["height"] * step / 40)
            if tooltip.is_visible():
                seen.add(tooltip.text_content())
        return seen

    seen = names_under_a_diagonal()
    assert seen and all(re.fullmatch(r"train: class [01]", text) for text in seen), seen
    page.get_by_test_id("show-test-data").check()  # the held-out points too: dev and test
    expect(points).to_have_attribute("data-points", "200")
    seen = names_under_a_diagonal()
    assert seen and all(re.fullmatch(r"(train|dev|test): class [01]", text) for text in seen), seen
    page.mouse.move(area["x"] - 40, area["y"] - 40)
    expect(tooltip).to_be_hidden()
    assert page.console_errors == []


def test_the_x_axis_spans_the_whole_run_from_its_first_epochs(page, live_server):
    open_playground(page, live_server, SLOW)
    page.get_by_test_id("start").click()
    epoch_at_least(page, 3)
    for chart in ("loss-chart", "accuracy-chart", "gradients-chart", "lr-chart"):
        page.wait_for_function(
            "testid => Number(document.querySelector(`[data-testid=${testid}]`).dataset.epochs) >= 3",
            arg=chart)
        assert page.evaluate(
            "testid => document.querySelector(`[data-testid=${testid}]`)._fullLayout.xaxis.range.slice()",
            chart) == [0, 5000]
    page.get_by_test_id("reset").click()
    assert page.console_errors == []


def test_a_fast_run_updates_the_epoch_counter_about_ten_times_a_second_and_ends_exact(page, live_server):
    # The fastest pace, 1,000 epochs a second, for 3,000 epochs: the pace (not this machine's
    # speed) makes the run last at least 3 s, with a hundred epochs arriving between redraws.
    open_playground(page, live_server, "samples=200&epochs=3000&speed=1000&boundaryEvery=50")
    page.evaluate(
        """() => {
            window.epochTexts = [];
            const counter = document.querySelector('[data-testid=epoch]');
            new MutationObserver(() => window.epochTexts.push([performance.now(), counter.textContent]))
                .observe(counter, { childList: true, characterData: true, subtree: true });
        }""")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(page.get_by_test_id("epoch")).to_have_text("3000")
    texts = page.evaluate("() => window.epochTexts")
    epochs = [int(text) for _, text in texts]
    assert epochs == sorted(epochs) and epochs[-1] == 3000
    assert len(set(epochs)) > 3, "the counter moved during the run, not only at its end"
    seconds = (texts[-1][0] - texts[0][0]) / 1000
    assert seconds > 1, "the pace keeps the run going for 3 s"
    # Epochs arrive a thousand a second; the counter is rewritten at most every 100 ms.
    assert len(texts) <= 10 * seconds + 3
    assert page.console_errors == []


def test_step_pause_and_resume(page, live_server):
    open_playground(page, live_server, SLOW)
    page.get_by_test_id("step").click()  # from idle: a run that pauses after its first epoch
    expect(page.get_by_test_id("status")).to_have_text("paused")
    expect(page.get_by_test_id("epoch")).to_have_text("1")
    page.get_by_test_id("step").click()
    expect(page.get_by_test_id("epoch")).to_have_text("2")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("running")
    epoch_at_least(page, 5)
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("paused")
    paused_at = server_epoch(page, live_server)
    expect(page.get_by_test_id("epoch")).to_have_text(str(paused_at))
    page.get_by_test_id("step").click()
    expect(page.get_by_test_id("epoch")).to_have_text(str(paused_at + 1))
    expect(page.get_by_test_id("status")).to_have_text("paused")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("running")
    epoch_at_least(page, paused_at + 4)
    page.get_by_test_id("reset").click()
    expect(page.get_by_test_id("status")).to_have_text("idle")


def test_values_the_server_rejects_show_its_message_next_to_the_field(page, live_server):
    open_playground(page, live_server, FAST + "&layers=8-relu,4-relu-k0.5")
    type_value(page.get_by_test_id("learning-rate"), "20")
    type_value(page.get_by_test_id("layer-2-keep-prob"), "0")
    page.get_by_test_id("start").click()
    error = page.locator('[data-error-for="learningRate"]')
    expect(error).to_have_text("Input should be less than or equal to 10")
    expect(page.locator('[data-error-for="layer-2"]')).to_contain_text("greater than 0")
    expect(page.get_by_test_id("message")).to_contain_text("optimizer.learning_rate")
    expect(page.get_by_test_id("status")).to_have_text("idle")
    type_value(page.get_by_test_id("learning-rate"), "0.01")
    expect(error).to_be_hidden()


def test_a_bad_link_value_is_reported_every_control_is_labelled_and_space_starts(page, live_server):
    open_playground(page, live_server, "optimizer=sgd&samples=200&epochs=30&speed=1000")
    expect(page.get_by_test_id("message")).to_contain_text('"sgd" is not a valid optimizer')
    expect(page.get_by_test_id("optimizer")).to_have_value("adam")
    expect(page.get_by_test_id("epochs")).to_have_value("30")
    assert json.loads(page.locator("#page-settings").text_content())["embed"] is False
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, button')]
            .filter((control) => control.offsetParent !== null)
            .filter((control) => !(control.labels && control.labels.length)
                                 && !control.getAttribute('aria-label') && !control.textContent.trim())
            .map((control) => control.id || control.outerHTML.slice(0, 80))""")
    assert unlabelled == []
    page.locator("body").press("Space")
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(page.get_by_test_id("epoch")).to_have_text("30")


def test_screenshot_mid_run(page, live_server, artifacts):
    open_playground(page, live_server, "dataset=spiral&noise=0.15&samples=500&epochs=3000&speed=300"
                    "&layers=16-tanh,16-tanh,8-tanh&learningRate=0.02&boundaryEvery=5")
    page.get_by_test_id("start").click()
    epoch_at_least(page, 150)
    page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=loss-chart]').dataset.epochs) >= 140")
    page.screenshot(path=str(artifacts / "playground.png"))
    page.get_by_test_id("reset").click()
    expect(page.get_by_test_id("status")).to_have_text("idle")
    expect(page.get_by_test_id("epoch")).to_have_text("0")


def test_changing_the_learning_rate_mid_run_marks_the_curves_and_zoom_survives(page, live_server):
    open_playground(page, live_server, SLOW)
    page.get_by_test_id("start").click()
    epoch_at_least(page, 3)
    learning_rate = page.get_by_test_id("learning-rate")
    expect(learning_rate).to_be_enabled()
    expect(page.get_by_test_id("dataset")).to_be_disabled()
    learning_rate.fill("0.05")
    learning_rate.press("Enter")
    loss_chart = page.get_by_test_id("loss-chart")
    expect(loss_chart.locator(".annotation-text")).to_contain_text("α 0.05")
    expect(page.get_by_test_id("lr-chart").locator(".annotation-text")).to_contain_text("α 0.05")
    page.wait_for_function(
        "() => { const y = document.querySelector('[data-testid=lr-chart]').data[0].y;"
        " return y[y.length - 1] === 0.05; }")
    assert "learningRate=0.05" in page.url

    area = loss_chart.locator(".nsewdrag").first.bounding_box()
    page.mouse.move(area["x"] + area["width"] * 0.1, area["y"] + area["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] * 0.6, area["y"] + area["height"] * 0.52, steps=5)
    before = loss_x_range(page)  # the x range grows in steps as points arrive: the one the drag applies to
    page.mouse.up()
    zoomed = loss_x_range(page)
    drawn = int(loss_chart.get_attribute("data-epochs"))
    # the drag zoomed in
    assert zoomed[0] > before[0] and zoomed[1] - zoomed[0] < 0.9 * (before[1] - before[0])
    learning_rate.fill("0.02")
    learning_rate.press("Enter")
    expect(page.get_by_test_id("lr-chart").locator(".annotation-text")).to_contain_text(["α 0.05", "α 0.02"])
    page.wait_for_function(
        "n => Number(document.querySelector('[data-testid=loss-chart]').dataset.epochs) > n + 10", arg=drawn)
    assert loss_x_range(page) == pytest.approx(zoomed)  # new points and the marker's redraw kept the zoom
    page.get_by_test_id("reset").click()
    expect(page.get_by_test_id("dataset")).to_be_enabled()


def test_a_three_layer_network_with_dropout_and_batch_norm_trains(page, live_server):
    open_playground(page, live_server, FAST)
    page.get_by_test_id("add-layer").click()
    page.get_by_test_id("add-layer").click()
    expect(page.get_by_test_id("layers").locator(".layer-row")).to_have_count(3)
    type_value(page.get_by_test_id("layer-1-units"), "16")
    type_value(page.get_by_test_id("layer-2-keep-prob"), "0.8")
    page.get_by_test_id("layer-3-batch-norm").check()
    page.get_by_test_id("layer-3-activation").select_option("tanh")
    expect(page.get_by_test_id("network-diagram")).to_have_attribute(
        "aria-label", "Network: x (2) → 16 ReLU → 8 ReLU → 8 tanh → σ")
    expect(page.get_by_test_id("network-diagram").locator(".tag")).to_have_text(["keep 0.8", "BN"])
    expect(page).to_have_url(re.compile(r"layers=16-relu,8-relu-k0\.8,8-tanh-bn&"))
    page.get_by_test_id("remove-layer").click()
    page.get_by_test_id("add-layer").click()
    page.get_by_test_id("layer-3-batch-norm").check()
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(page.get_by_test_id("gradients-chart-legend").locator("li")).to_have_count(4)
    assert all(math.isfinite(value) for value in trace_values(page, "loss-chart", "dev"))


def test_digits_show_a_confusion_matrix_and_misclassified_digits(page, live_server):
    open_playground(page, live_server, "epochs=4&speed=1000&samples=400")
    page.get_by_test_id("thumb-moons").click()
    expect(page.get_by_test_id("dataset")).to_have_value("moons")
    expect(page.get_by_test_id("thumb-moons")).to_have_attribute("aria-pressed", "true")
    page.get_by_test_id("dataset").select_option("digits")
    expect(page.get_by_test_id("thumb-moons")).to_be_hidden()
    diagram = page.get_by_test_id("network-diagram")
    expect(diagram).to_have_attribute("aria-label", re.compile("64 pixels.*softmax"))
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(page.get_by_test_id("confusion-chart")).to_be_visible()
    expect(page.get_by_test_id("boundary-chart")).to_be_hidden()
    expect(page.get_by_test_id("confusion-chart").locator(".hm")).to_have_count(1)
    expect(page.get_by_test_id("misclassified").locator("canvas").first).to_be_visible()
    matrix = page.evaluate("document.querySelector('[data-testid=confusion-chart]').data[0].z")
    assert len(matrix) == 10 and all(len(row) == 10 for row in matrix)


def test_gradient_check_is_great_and_wrong_with_the_bug(page, live_server):
    open_playground(page, live_server, FAST)
    page.get_by_test_id("gradcheck").click()
    result = page.get_by_test_id("gradcheck-result")
    expect(result.get_by_test_id("gradcheck-verdict")).to_have_text("great")
    expect(result.locator("tbody tr").first).to_be_visible()
    page.get_by_test_id("break-backprop").check()
    page.get_by_test_id("gradcheck").click()
    expect(result.get_by_test_id("gradcheck-verdict")).to_have_text("wrong")
    expect(result).to_have_attribute("data-verdict", "wrong")


def test_a_correct_relu_network_is_great_and_the_probes_across_a_kink_are_named(page, live_server):
    # With this seed some ReLU pre-activations sit within epsilon of 0: a check that kept those
    # probes would call correct backprop "wrong".
    open_playground(page, live_server, "seed=1000000000&layers=8-relu,8-relu")
    page.get_by_test_id("gradcheck").click()
    result = page.get_by_test_id("gradcheck-result")
    expect(result.get_by_test_id("gradcheck-verdict")).to_have_text("great")
    expect(result.get_by_test_id("gradcheck-note")).to_contain_text("stepped across a kink")
    expect(result.locator("tbody tr", has_text="b2")).to_contain_text("kinks only")
    assert "NaN" not in result.inner_text()


def control_values(page) -> dict:
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('[data-prop], .layer-row [id]')]
            .filter((control) => control.matches('input, select'))
            .map((control) => [control.id,
                               control.type === 'checkbox' ? control.checked : control.value]))""")


def test_a_shared_link_restores_every_control(page, live_server, browser):
    open_playground(page, live_server)
    page.get_by_test_id("dataset").select_option("moons")
    page.get_by_test_id("optimizer").select_option("rmsprop")
    typed = {"learning-rate": "0.003", "l2": "0.25", "l1": "0.01", "epochs": "123", "seed": "7"}
    for testid, value in typed.items():
        type_value(page.get_by_test_id(testid), value)
    for prop, value in (("beta", "0.95"), ("noise", "0.3"), ("devNoise", "0.5")):
        type_value(page.locator(f"#f-{prop}"), value)
    page.locator("#f-schedule").select_option("step")
    type_value(page.locator("#f-every"), "40")
    page.locator("#f-center").uncheck()
    page.locator("#f-augment").check()
    page.get_by_test_id("batch-size").select_option("16")
    page.get_by_test_id("speed").select_option("100")
    page.get_by_test_id("add-layer").click()
    type_value(page.get_by_test_id("layer-2-units"), "5")
    type_value(page.get_by_test_id("layer-2-keep-prob"), "0.7")
    page.get_by_test_id("smoothing").fill("0.8")
    page.get_by_test_id("share-link").click()
    link = page.get_by_test_id("share-text").input_value()
    assert link.startswith(live_server.url + "/#") and "seed=7" in link
    expected = control_values(page)

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        other = context.new_page()
        other.goto(link)
        expect(other.locator("body")).to_have_attribute("data-ready", "true")
        expect(other.get_by_test_id("layer-2-keep-prob")).to_have_value("0.7")
        assert control_values(other) == expected
        expect(other.get_by_test_id("message")).to_be_hidden()
    finally:
        context.close()


def test_a_diverged_run_says_so_and_offers_a_lower_learning_rate(page, live_server):
    open_playground(page, live_server, DIVERGING)
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("diverged")
    message = page.get_by_test_id("message")
    expect(message).to_contain_text(re.compile(r"Diverged at epoch \d+"))
    expect(message).to_contain_text("lower learning rate")
    page.get_by_test_id("message-action").click()
    expect(page.get_by_test_id("learning-rate")).to_have_value("1")


def test_finished_runs_stay_as_labelled_removable_ghosts(page, live_server):
    open_playground(page, live_server, "samples=200&epochs=15&speed=1000")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    page.get_by_test_id("optimizer").select_option("gd")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    ghosts = page.get_by_test_id("compare-list").get_by_test_id("ghost")
    expect(ghosts).to_have_count(1)
    expect(ghosts.first).to_contain_text("Adam")
    expect(page.get_by_test_id("loss-chart-legend").locator("li", has_text="Adam · dev")).to_have_count(1)
    ghosts.first.get_by_test_id("ghost-remove").click()
    expect(ghosts).to_have_count(0)
    expect(page.get_by_test_id("loss-chart-legend").locator("li", has_text="Adam")).to_have_count(0)
    assert not any("Adam" in trace for trace in page.evaluate(
        "() => document.querySelector('[data-testid=loss-chart]').data.map((trace) => trace.name)"))


def test_picking_a_lesson_loads_its_config_and_text(page, live_server):
    presets = page.request.get(f"{live_server.url}/api/presets").json()
    preset = next(item for item in presets if item["id"] == "overfitting")
    open_playground(page, live_server)
    page.get_by_test_id("preset-picker").select_option("overfitting")
    expect(page.get_by_test_id("lesson")).to_contain_text(preset["title"])
    expect(page.get_by_test_id("lesson")).to_contain_text(preset["explanation"][:40])
    units = str(preset["config"]["model"]["hidden"][0]["units"])
    expect(page.get_by_test_id("layer-1-units")).to_have_value(units)
    assert f"seed={preset['config'].get('seed', 0)}" in page.url




@pytest.fixture(scope="module")
def one_run_server():
    """A server that takes one run per client, to see what the page says at capacity."""
    from server import create_app
    from tests.e2e.conftest import LiveServer

    server = LiveServer(create_app({"TESTING": True, "LIMITS": {"max_runs_per_client": 1}})).start()
    yield server
    server.stop()


def test_at_capacity_the_page_says_when_to_try_again(page, one_run_server):
    # The same browser (its client token) already has the one run it may have.
    token = "capacity-test-browser-0001"
    page.add_init_script(f"localStorage.setItem('tuning-client', '{token}')")
    created = page.request.post(f"{one_run_server.url}/api/runs", headers={"X-Tuning-Client": token},
                                data={"training": {"epochs": 5000, "epochs_per_second": 5}})
    assert created.status == 201
    run = created.json()
    try:
        open_playground(page, one_run_server, FAST)
        page.get_by_test_id("start").click()
        expect(page.get_by_test_id("message")).to_contain_text(re.compile(r"Try again in \d+ s"))
        expect(page.get_by_test_id("message")).to_have_attribute("data-kind", "warning")
        expect(page.get_by_test_id("status")).to_have_text("idle")
        expect(page.get_by_test_id("start")).to_be_enabled()
    finally:
        page.request.post(f"{one_run_server.url}/api/runs/{run['id']}/control", data={"action": "stop"})


@pytest.fixture(scope="module")
def short_log_server():
    """A server whose run logs keep 30 events, so that a late reader finds some dropped."""
    from server import create_app
    from tests.e2e.conftest import LiveServer

    server = LiveServer(create_app({"TESTING": True, "LIMITS": {"max_events_per_run": 30}})).start()
    yield server
    server.stop()


def test_events_the_server_log_dropped_are_told_to_the_learner(page, short_log_server):
    url = short_log_server.url
    created = page.request.post(f"{url}/api/runs", data={
        "data": {"n_samples": 200}, "training": {"epochs": 100, "boundary_every": 0}})
    assert created.status == 201
    run = created.json()
    finished = page.request.get(f"{url}{run['events_url']}")  # the stream ends after "done"
    assert finished.status == 200 and "event: done" in finished.text()
    replay = page.request.get(f"{url}{run['events_url']}")  # a late reader: the log kept only 30 events
    assert replay.status == 200 and "event: gap" in replay.text()

    # The page's Train answers with that finished run, as if this page had fallen behind it.
    def answer_with_the_finished_run(route):
        if route.request.method == "POST":
            route.fulfill(status=201, json=run)
        else:
            route.continue_()

    page.route("**/api/runs", answer_with_the_finished_run)
    open_playground(page, short_log_server, FAST)
    note = page.get_by_test_id("stream-gap")
    expect(note).to_be_hidden()
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(page.get_by_test_id("epoch")).to_have_text("100")
    expect(note).to_contain_text(re.compile(r"^\d+ events were dropped from the server's log"))
    page.get_by_test_id("reset").click()
    expect(note).to_be_hidden()
    assert page.console_errors == []


def test_the_masthead_leads_to_the_labs_and_the_search(page, live_server):
    open_playground(page, live_server)
    page.get_by_role("link", name="Lessons and labs").click()
    expect(page).to_have_url(re.compile(r"/labs$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Lessons and labs")
    open_playground(page, live_server)
    page.get_by_role("link", name="Search").click()
    expect(page).to_have_url(re.compile(r"/search$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Hyperparameter search")


# --- what the charts teach ---------------------------------------------------------------


def increases(values: list) -> float:
    """The fraction of steps of a curve that go up."""
    steps = [b - a for a, b in zip(values, values[1:], strict=False) if a is not None and b is not None]
    return sum(step > 0 for step in steps) / len(steps)


def test_a_train_dev_set_draws_its_own_loss_and_accuracy_curves(page, live_server):
    open_playground(page, live_server, FAST + "&train=0.5&trainDev=0.1&smoothing=0")
    expect(page.locator("#split-sizes")).to_contain_text("20 train-dev")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    for chart in ("loss-chart", "accuracy-chart"):
        expect(page.get_by_test_id(chart)).to_have_attribute("data-epochs", "40")
        expect(page.get_by_test_id(f"{chart}-legend").locator("li", has_text="train-dev")).to_have_count(1)
        values = trace_values(page, chart, "train-dev")
        assert len(values) == 41 and all(value is not None and math.isfinite(value) for value in values)
    assert trace_values(page, "loss-chart", "train-dev") != trace_values(page, "loss-chart", "train")
    # Without a train-dev set there is no such curve.
    page.get_by_test_id("reset").click()
    type_value(page.get_by_test_id("train-dev"), "0")
    type_value(page.locator("#f-train"), "0.6")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    page.wait_for_function(  # the new run's curves: no train-dev (the first run's ghost is named by it)
        "() => { const chart = document.querySelector('[data-testid=loss-chart]');"
        " return chart.dataset.epochs === '40' && !chart.data.some((trace) => trace.name === 'train-dev'); }")


def test_cost_per_iteration_jitters_for_sgd_and_falls_smoothly_for_batch_descent(page, live_server):
    open_playground(page, live_server, "samples=200&epochs=20&speed=1000&boundaryEvery=0&smoothing=0"
                    "&optimizer=gd&learningRate=0.05&batchSize=1&chart=iteration")
    expect(page.get_by_test_id("iteration-chart")).to_be_visible()
    expect(page.get_by_test_id("loss-chart")).to_be_hidden()
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    # data-epochs: the last x drawn, here the iteration: 120 updates an epoch for 20 epochs.
    expect(page.get_by_test_id("iteration-chart")).to_have_attribute("data-epochs", "2400")
    sgd = trace_values(page, "iteration-chart", "mini-batch cost")
    assert len(sgd) == 2400
    x_range = page.evaluate(
        "() => document.querySelector('[data-testid=iteration-chart]')._fullLayout.xaxis.range.slice()")
    assert x_range == [0, 2400]  # the axis spans the run's updates from the start
    assert increases(sgd) > 0.3, "stochastic gradient descent: one example's cost jumps from update to update"

    page.get_by_test_id("batch-size").select_option(label="full batch")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(page.get_by_test_id("iteration-chart")).to_have_attribute("data-epochs", "20")  # full batch
    batch = trace_values(page, "iteration-chart", "mini-batch cost")
    assert len(batch) == 20 and increases(batch) == 0, "batch gradient descent: every update lowers the cost"
    ghost = page.get_by_test_id("iteration-chart-legend").locator("li", has_text="batch 1 · mini-batch cost")
    expect(ghost).to_have_count(1)  # the SGD run stays as a ghost to compare with

    page.get_by_test_id("chart-mode").select_option("epoch")
    expect(page.get_by_test_id("loss-chart")).to_be_visible()
    expect(page.get_by_test_id("iteration-chart")).to_be_hidden()
    expect(page).to_have_url(re.compile(r"[#&]chart=epoch(&|$)"))


def test_early_stopping_marks_the_best_epoch_where_the_dev_curve_bottoms(page, live_server):
    open_playground(page, live_server, "samples=200&epochs=400&speed=1000&boundaryEvery=0&smoothing=0"
                    "&layers=64-relu,64-relu&learningRate=0.02&noise=0.3&patience=15")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    message = page.get_by_test_id("message").text_content()
    best = int(re.search(r"best dev loss at epoch (\d+)", message).group(1))
    last = page.get_by_test_id("epoch").text_content()
    expect(page.get_by_test_id("loss-chart")).to_have_attribute("data-epochs", last)
    expect(page.get_by_test_id("loss-chart").locator(".annotation-text")).to_have_text(
        f"best dev loss · epoch {best}")
    expect(page.get_by_test_id("accuracy-chart").locator(".annotation-text")).to_have_text(
        f"best dev loss · epoch {best}")
    curve = page.evaluate(
        """() => {
            const chart = document.querySelector('[data-testid=loss-chart]');
            const trace = chart.data.find((candidate) => candidate.name === 'dev');
            return { x: Array.from(trace.x), y: Array.from(trace.y) };
        }""")
    lowest = min(range(len(curve["y"])), key=lambda index: curve["y"][index])
    assert curve["x"][lowest] == best  # the axis, the marker and the message count epochs the same way
    assert curve["x"][-1] == int(last)


def test_exactly_zero_gradients_are_explained_and_weight_norms_can_be_shown(page, live_server):
    open_playground(page, live_server, "samples=200&epochs=10&speed=1000&boundaryEvery=0&init=zeros")
    note = page.get_by_test_id("gradients-note")
    expect(note).to_be_hidden()
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(note).to_be_visible()
    expect(note).to_contain_text("Every gradient norm is exactly 0")
    page.get_by_test_id("show-weights").check()
    expect(page.get_by_test_id("weights-chart")).to_be_visible()
    expect(page.get_by_test_id("gradients-chart")).to_be_hidden()
    expect(page).to_have_url(re.compile(r"[#&]weights=1(&|$)"))

    page.get_by_test_id("reset").click()
    page.locator("#f-init").select_option("he")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(note).to_be_hidden()
    page.wait_for_function(  # the new run's weights drawn (the zero-initialized run's were all 0)
        "() => { const chart = document.querySelector('[data-testid=weights-chart]');"
        " const trace = chart.data.find((candidate) => candidate.name === 'W[1]');"
        " return chart.dataset.epochs === '10' && trace.y.length === 11"
        " && trace.y.every((value) => value > 0); }")
    page.get_by_test_id("show-weights").uncheck()
    expect(page.get_by_test_id("gradients-chart")).to_be_visible()


def test_digits_fill_the_confusion_matrix_without_boundary_pictures(page, live_server):
    open_playground(page, live_server, "dataset=digits&epochs=4&speed=1000&samples=400&boundaryEvery=0")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(page.get_by_test_id("confusion-chart").locator(".hm")).to_have_count(1)
    matrix = page.evaluate("() => document.querySelector('[data-testid=confusion-chart]').data[0].z")
    assert len(matrix) == 10 and sum(map(sum, matrix)) == 80  # every dev digit, counted once


def test_the_diagnosis_waits_for_settled_curves_and_names_why_a_network_does_not_learn(page, live_server):
    open_playground(page, live_server, "samples=200&epochs=5000&speed=10")  # epochs 5 to 20 are unsettled
    page.get_by_test_id("start").click()
    diagnosis = page.get_by_test_id("diagnosis")
    # The first verdicts come while the curves still fall: the panel waits.
    expect(diagnosis).to_have_attribute("data-settled", "false")
    expect(diagnosis.get_by_test_id("verdict")).to_have_text("Too early to tell")
    page.get_by_test_id("reset").click()

    open_playground(page, live_server, "samples=400&epochs=60&speed=1000&boundaryEvery=0&init=zeros")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(diagnosis).to_have_attribute("data-verdict", "not_learning")
    expect(diagnosis).to_have_attribute("data-settled", "true")
    expect(diagnosis.get_by_test_id("verdict")).to_have_text("Not learning")
    expect(diagnosis.get_by_test_id("diagnosis-cause")).to_contain_text("Zero initialization")
