"""The page's URL-state table against the config schema, exercised in the browser."""

from __future__ import annotations

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
