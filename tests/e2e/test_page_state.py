"""The page's URL-state table against the config schema, exercised in the browser."""

from __future__ import annotations

import math

import pytest

from server.engine.config import RunConfig

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect


def leaf_paths(node, prefix=""):
    """Dotted paths of every field of a config dump; a list (the hidden layers) is one field."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaf_paths(value, f"{prefix}{key}.")
    else:
        yield prefix[:-1]


@pytest.fixture(scope="module")
def state_module(browser, live_server):
    """One loaded page for the module: these tests only import its modules."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server.url}/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    yield page
    context.close()


def test_every_config_field_is_in_the_url_table(state_module):
    paths = state_module.evaluate(
        """async () => (await import('/static/js/state.js')).PROPERTIES
            .filter((property) => property.scope === 'config').map((property) => property.path)""")
    assert sorted(paths) == sorted(leaf_paths(RunConfig().model_dump(mode="json")))
    assert len(paths) == len(set(paths))


def test_a_config_survives_the_fragment_with_its_types(state_module):
    config = RunConfig.model_validate({
        "seed": 42,
        "data": {"dataset": "xor", "noise": 0.35, "dev_noise": 0.6, "bayes_error": 0.05,
                 "split": {"train": 0.5, "dev": 0.25, "test": 0.25}, "normalize": {"scale": False},
                 "augment": {"enabled": True, "jitter": 0.2}},
        "model": {"hidden": [{"units": 12, "activation": "leaky_relu", "keep_prob": 0.75, "batch_norm": True},
                             {"units": 3, "activation": "sigmoid"}], "init": "xavier"},
        "regularization": {"l2": 0.5, "l1": 0.001},
        "optimizer": {"name": "rmsprop", "learning_rate": 3e-4, "beta": 0.95, "epsilon": 1e-6},
        "schedule": {"name": "step", "factor": 0.3, "every": 25},
        "training": {"epochs": 321, "batch_size": 1, "report_every": 3, "boundary_every": 0,
                     "epochs_per_second": 12.5, "early_stopping": {"patience": 9, "restore_best": False}},
    }).model_dump(mode="json")
    restored = state_module.evaluate(
        """async (config) => {
            const { PlaygroundState } = await import('/static/js/state.js');
            const settings = JSON.parse(document.getElementById('page-settings').textContent);
            const source = new PlaygroundState({ defaults: settings.defaults });
            source.replaceConfig(config);
            const target = new PlaygroundState({ defaults: settings.defaults });
            const warnings = target.applyFragment('#' + source.toFragment());
            return { config: target.config, warnings };
        }""", config)
    assert restored["warnings"] == []
    assert restored["config"] == config
    assert isinstance(restored["config"]["optimizer"]["learning_rate"], float)
    assert isinstance(restored["config"]["training"]["epochs"], int)


def test_unpaced_and_empty_layer_lists_round_trip(state_module):
    restored = state_module.evaluate(
        """async () => {
            const { PlaygroundState } = await import('/static/js/state.js');
            const settings = JSON.parse(document.getElementById('page-settings').textContent);
            const state = new PlaygroundState(
                { defaults: settings.defaults, pageDefaults: settings.pageDefaults });
            const before = state.get('speed');
            state.applyFragment('#speed=max&layers=none&devNoise=');
            const broken = state.applyFragment('#seed=%E0%A4%A&epochs=12');
            return { before, speed: state.get('speed'), layers: state.get('layers'),
                     devNoise: state.get('devNoise'), fragment: state.toFragment(), broken,
                     epochs: state.get('epochs') };
        }""")
    assert restored["before"] == 30
    assert restored["speed"] is None and restored["layers"] == [] and restored["devNoise"] is None
    assert "speed=max" in restored["fragment"] and "layers=none" in restored["fragment"]
    assert len(restored["broken"]) == 1 and "percent-encoding" in restored["broken"][0]
    assert restored["epochs"] == 12  # the rest of a damaged link still applies


def test_smoothing_is_a_bias_corrected_exponentially_weighted_average(state_module):
    values = [1.0, 3.0, None, 2.0, 5.0]
    smoothed = state_module.evaluate(
        "async (values) => (await import('/static/js/charts/smoothing.js')).smoothSeries(values, 0.9)",
        values)
    expected, average, count = [], 0.0, 0
    for value in values:
        if value is None:
            expected.append(math.nan)  # missing stays missing, as NaN (Plotly and the canvas skip it)
            continue
        count += 1
        average = 0.9 * average + 0.1 * value
        expected.append(average / (1 - 0.9 ** count))
    assert smoothed == pytest.approx(expected, nan_ok=True)
    assert smoothed[0] == pytest.approx(1.0)  # no pull towards zero at the start


def test_ghosts_and_markers_are_named_by_what_changed(state_module):
    names = state_module.evaluate(
        """async () => {
            const { describeDifference, describeChanges } = await import('/static/js/describe.js');
            const { liveFields } = await import('/static/js/schema.js');
            const settings = JSON.parse(document.getElementById('page-settings').textContent);
            const symbols = liveFields(settings.schema);
            const base = settings.defaults;
            const gd = structuredClone(base);
            gd.optimizer.name = 'gd';
            gd.optimizer.learning_rate = 0.1;
            const paced = structuredClone(base);
            paced.training.epochs_per_second = 500;
            return {
                optimizer: describeDifference(base, gd, symbols),
                same: describeDifference(base, paced, symbols),
                update: describeChanges({ optimizer: { learning_rate: 0.05 }, regularization: { l2: 0.1 },
                                          model: { hidden: [null, { keep_prob: 0.5 }] } }, symbols),
                pace: describeChanges({ training: { epochs_per_second: 100 } }, symbols),
            };
        }""")
    assert names["optimizer"] == "Adam, α 0.01"
    assert names["same"] == "same settings"  # pacing is not part of the experiment
    assert names["update"] == "α 0.05, L2 0.1, keep[2] 0.5"
    assert names["pace"] == ""


def test_the_live_fields_and_their_symbols_come_from_the_schema(state_module):
    live = state_module.evaluate(
        """async () => {
            const { liveFields } = await import('/static/js/schema.js');
            const settings = JSON.parse(document.getElementById('page-settings').textContent);
            return Object.fromEntries(liveFields(settings.schema));
        }""")
    from server.engine.config import LIVE_FIELDS

    assert live == {field.path: field.symbol for field in LIVE_FIELDS}  # the engine's one table, every entry
    assert live["optimizer.learning_rate"] == "α" and live["regularization.l2"] == "L2"
    assert live["model.hidden.keep_prob"] == "keep_prob" and "training.epochs_per_second" in live
    assert "data.dataset" not in live and "model.hidden.units" not in live


def test_conditions_and_boundary_colours(state_module):
    result = state_module.evaluate(
        """async () => {
            const { matches } = await import('/static/js/views/form.js');
            const { boundaryColor } = await import('/static/js/charts/colors.js');
            const config = { optimizer: { name: 'rmsprop' }, data: { dataset: 'digits' } };
            return {
                either: matches('optimizer.name=adam|rmsprop', config),
                other: matches('optimizer.name=adam', config),
                not: matches('data.dataset!=digits', config),
                colours: [boundaryColor(0), boundaryColor(0.5), boundaryColor(1), boundaryColor(7)],
            };
        }""")
    assert result["either"] is True and result["other"] is False and result["not"] is False
    assert result["colours"] == [[240, 165, 107], [255, 255, 255], [111, 158, 214], [111, 158, 214]]


def test_the_boundary_map_parses_only_the_grid_it_draws_and_paints_the_scale(state_module):
    result = state_module.evaluate(
        """async () => {
            const { BoundaryChart } = await import('/static/js/charts/boundary_chart.js');
            const { boundaryColor } = await import('/static/js/charts/colors.js');
            const frame = document.createElement('div');
            const element = document.createElement('div');
            element.style.width = '300px';
            element.style.height = '200px';
            frame.append(element);
            document.body.append(frame);
            const chart = new BoundaryChart(element);
            chart.reset({ train: { x: [0], y: [0], label: [1] } });
            const parsed = [];
            const grid = (epoch) => () => {
                parsed.push(epoch);
                return { epoch, x: [0, 1, 2, 3], y: [0, 1], z: [[0, 0.5, 1, null], [0.25, 0.75, 7, -3]] };
            };
            for (const epoch of [5, 10, 15]) chart.setGridSource(grid(epoch));
            chart.flush();
            const pixels = chart.canvas.getContext('2d').getImageData(0, 0, 4, 2).data;
            const rows = [0, 1].map((row) => [0, 1, 2, 3].map(
                (column) => Array.from(pixels.slice(4 * (row * 4 + column), 4 * (row * 4 + column) + 3))));
            const expected = [[0.25, 0.75, 7, -3], [0, 0.5, 1, null]].map((values) => values.map(
                (value) => value === null ? [235, 235, 235] : boundaryColor(value)));
            frame.remove();
            return { parsed, epoch: chart.canvas.dataset.epoch, rows, expected };
        }""")
    assert result["parsed"] == [15]  # the two grids overtaken before a redraw are never parsed
    assert result["epoch"] == "15"
    # The top canvas row is the highest y; every colour within one step of the 1,024-step table.
    for row, expected_row in zip(result["rows"], result["expected"], strict=True):
        for colour, expected in zip(row, expected_row, strict=True):
            assert all(abs(a - b) <= 1 for a, b in zip(colour, expected, strict=True)), (colour, expected)


def test_the_diagnosis_panel_reads_the_new_verdicts_and_waits_for_settled_curves(state_module):
    shown = state_module.evaluate(
        """async () => {
            const { DiagnosisView } = await import('/static/js/views/panels.js');
            const root = document.createElement('div');
            document.body.append(root);
            const view = new DiagnosisView(root);
            const base = { train_error: 0.5, dev_error: 0.5, bayes_error: 0.0, avoidable_bias: 0.5,
                           variance: 0.0, advice: ['Initialize randomly.'], settled: true };
            const read = (diagnosis) => {
                view.render({ ...base, ...diagnosis });
                return { verdict: root.querySelector('[data-testid=verdict]').textContent,
                         cause: root.querySelector('[data-testid=diagnosis-cause]')?.textContent ?? null,
                         text: root.textContent, attribute: root.dataset.verdict,
                         settled: root.dataset.settled };
            };
            const result = {
                stuck: read({ verdict: 'not_learning', cause: 'zero_init' }),
                unknownCause: read({ verdict: 'not_learning', cause: null }),
                mismatch: read({ verdict: 'data_mismatch', train_error: 0.05, train_dev_error: 0.06,
                                 dev_error: 0.2, variance: 0.01, data_mismatch: 0.14, cause: null }),
                early: read({ verdict: 'high_variance', settled: false }),
            };
            root.remove();
            return result;
        }""")
    assert shown["stuck"]["verdict"] == "Not learning" and shown["stuck"]["attribute"] == "not_learning"
    assert "Zero initialization" in shown["stuck"]["cause"]
    assert "Initialize randomly." in shown["stuck"]["text"]
    assert shown["unknownCause"]["cause"] is None
    assert shown["mismatch"]["verdict"].startswith("Data mismatch")
    assert "Train-dev error6.0%" in shown["mismatch"]["text"]
    assert "data mismatch 14.0%" in shown["mismatch"]["text"]
    assert shown["early"]["verdict"] == "Too early to tell" and shown["early"]["settled"] == "false"
    assert shown["early"]["attribute"] == "high_variance"  # the verdict so far, not shown as one
    assert "Initialize randomly." not in shown["early"]["text"]


def test_a_long_history_keeps_a_bounded_thinned_copy_whose_smoothing_sees_every_point(state_module):
    kept = state_module.evaluate("""async () => {
        const { CurveChart, MAX_KEPT_POINTS } = await import('/static/js/charts/curve_chart.js');
        const element = document.createElement('div');
        element.dataset.testid = 'bounded-test-chart';
        document.body.append(element);
        const series = [{ key: 'cost', name: 'cost', color: '#000' }];
        const chart = new CurveChart(element, { yTitle: 'cost', series });
        chart.setSmoothing(0.5);
        const pushed = 3 * MAX_KEPT_POINTS;
        for (let index = 0; index < pushed; index += 1) chart.push(index, { cost: index % 2 });
        const result = {
            limit: MAX_KEPT_POINTS, pushed, kept: chart.epochs.length, first: chart.epochs.slice(0, 3),
            keepEvery: chart.keepEvery, lastSmoothed: chart.smooth.cost.at(-1),
            lastRaw: chart.raw.cost.at(-1),
        };
        element.remove();
        return result;
    }""")
    assert kept["kept"] <= kept["limit"] < kept["pushed"]
    assert kept["first"] == [0, kept["keepEvery"], 2 * kept["keepEvery"]]  # evenly spaced over the run
    assert kept["keepEvery"] == 4
    # Kept points are the even ones (raw 0), but their average still counts the odd ones between them.
    assert kept["lastRaw"] == 0 and 0.3 < kept["lastSmoothed"] < 0.4
