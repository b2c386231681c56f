"""The bound on a run's work: counted as documented, every preset inside it, a 400 detail naming the field."""

import pytest

from server.engine import ConfigError, Trainer, parse_config
from server.engine.config import parse_update
from server.engine.cost import (
    BOUNDARY_GRID_POINTS,
    LAYER_OVERHEAD_WORK,
    STEP_OVERHEAD_WORK,
    UPDATE_WORK_PER_PARAMETER,
    config_network_size,
    epoch_work,
    uncut_work,
)
from server.engine.data import data_shape
from server.engine.model import parameter_count
from server.lessons.presets import PRESETS
from server.limits import CONFIG_LIMITS
from server.search.presets import presets as search_presets

BOUND = CONFIG_LIMITS.max_multiply_adds_per_epoch
UNCUT = CONFIG_LIMITS.max_uncut_multiply_adds
WIDEST_LAYER = {"units": CONFIG_LIMITS.max_units}
LARGEST_NETWORK = {"model": {"hidden": [WIDEST_LAYER] * CONFIG_LIMITS.max_hidden_layers}}


def test_an_epoch_is_counted_as_the_docstring_says():
    # circles (2 inputs), 8 and 4 units, one output: W = 2*8 + 8*4 + 4*1 = 52, P = 52 + 8 + 4 + 1 = 65,
    # three weight layers.
    config = parse_config({"data": {"n_samples": 100, "split": {"train": 0.5, "dev": 0.3, "test": 0.2}},
                           "model": {"hidden": [{"units": 8}, {"units": 4}]},
                           "training": {"batch_size": 20, "boundary_every": 5}})
    step = lambda rows: (3 * rows * 52 + UPDATE_WORK_PER_PARAMETER * 65  # noqa: E731
                         + STEP_OVERHEAD_WORK + 3 * LAYER_OVERHEAD_WORK)
    # 50 training examples: two steps of 20 and one of 10; evaluated: 50 + 30 and the grid.
    assert epoch_work(config) == 2 * step(20) + step(10) + 52 * (80 + BOUNDARY_GRID_POINTS)


def test_without_boundary_pictures_the_grid_is_not_counted():
    pictured = parse_config({"training": {"boundary_every": 1}})
    unpictured = parse_config({"training": {"boundary_every": 0}})
    weights = config_network_size(pictured).weights
    assert epoch_work(pictured) - epoch_work(unpictured) == weights * BOUNDARY_GRID_POINTS


@pytest.mark.parametrize("hidden", [[], [{"units": 8, "batch_norm": True}, {"units": 3}]])
def test_the_parameters_counted_are_the_networks(hidden):
    config = parse_config({"data": {"dataset": "digits", "n_samples": 300}, "model": {"hidden": hidden}})
    n_features, n_classes = data_shape("digits")
    size = config_network_size(config)
    assert size.parameters == parameter_count(n_features, config.model.hidden, n_classes)
    assert size.weights == Trainer(config).network.n_weights


def test_engineered_features_are_inputs_the_network_counts():
    features = ["x1", "x2", "x1_squared", "x2_squared", "x1_x2", "sin_x1", "sin_x2"]
    config = parse_config({"data": {"features": features}, "model": {"hidden": [{"units": 4}]}})
    assert config_network_size(config).weights == 7 * 4 + 4 * 1
    assert config_network_size(config).weights == Trainer(config).network.n_weights
    assert epoch_work(config) > epoch_work(parse_config({"model": {"hidden": [{"units": 4}]}}))


def test_the_grid_counted_is_the_one_a_boundary_event_draws():
    assert len(Trainer({}).dataset.grid()[2]) == BOUNDARY_GRID_POINTS


def every_preset_config():
    for preset in PRESETS.values():
        yield preset.id, preset.full_config()
        if getattr(preset, "counterfactual", None):
            yield f"{preset.id} (twin)", preset.twin_config()
    for search in search_presets():
        yield search["id"], search["definition"]["base"]


@pytest.mark.parametrize(("name", "config"), list(every_preset_config()))
def test_every_lesson_and_search_preset_fits_with_room_to_spare(name, config):
    config = parse_config(config)
    assert epoch_work(config) < BOUND / 20 and uncut_work(config) < UNCUT / 20, name


def test_the_largest_network_the_schema_allows_is_refused_whatever_the_data():
    with pytest.raises(ConfigError) as refused:
        parse_config({**LARGEST_NETWORK, "data": {"n_samples": 20}, "training": {"boundary_every": 0}})
    (detail,) = refused.value.details
    assert detail["loc"] == "model.hidden"
    assert "multiply-adds" in detail["msg"] and f"{UNCUT:.2g}" in detail["msg"]


def test_an_epoch_over_the_bound_is_refused_naming_the_network():
    config = {"data": {"n_samples": 5000}, "model": {"hidden": [{"units": 128}] * 2},
              "training": {"batch_size": 1}}
    assert uncut_work(parse_config({**config, "data": {"n_samples": 600}})) <= UNCUT
    with pytest.raises(ConfigError) as refused:
        parse_config(config)
    assert [detail["loc"] for detail in refused.value.details] == ["model.hidden"]
    assert f"{BOUND:.2g}" in refused.value.details[0]["msg"]


def test_a_full_batch_step_too_large_to_leave_uncut_is_refused_naming_the_batch_size():
    network = {"model": {"hidden": [{"units": 256}] * 2}, "data": {"n_samples": 5000}}
    with pytest.raises(ConfigError) as refused:
        parse_config({**network, "training": {"batch_size": 5000}})
    (detail,) = refused.value.details
    assert detail["loc"] == "training.batch_size" and "smaller batch" in detail["msg"]
    assert epoch_work(parse_config({**network, "training": {"batch_size": 64}})) <= BOUND


def test_a_boundary_grid_too_large_to_leave_uncut_is_refused_naming_the_network():
    network = {"model": {"hidden": [{"units": 256}] * 3}, "data": {"n_samples": 200}}
    with pytest.raises(ConfigError) as refused:
        parse_config({**network, "training": {"batch_size": 32}})
    (detail,) = refused.value.details
    assert detail["loc"] == "model.hidden" and "boundary_every 0" in detail["msg"]
    unpictured = parse_config({**network, "training": {"batch_size": 32, "boundary_every": 0}})
    assert uncut_work(unpictured) <= UNCUT


def test_a_live_batch_size_that_would_exceed_the_bound_is_refused_at_its_field():
    heavy = {"data": {"n_samples": 3000}, "model": {"hidden": [{"units": 256}, {"units": 256}]},
             "training": {"batch_size": 600}}
    config = parse_config(heavy)
    assert epoch_work(config) <= BOUND
    with pytest.raises(ConfigError) as refused:
        parse_update({"training": {"batch_size": 1}}, config)
    assert [detail["loc"] for detail in refused.value.details] == ["config.training.batch_size"]
    assert parse_update({"training": {"batch_size": 300}}, config) == {"training": {"batch_size": 300}}


def test_each_weight_layer_adds_its_calls_to_a_step():
    def step(depth: int) -> int:
        config = parse_config({"model": {"hidden": [{"units": 4}] * depth}})
        return config_network_size(config).step_work(1)

    # Four more layers of 4 units: 4 * (16 weights * 3 + 20 parameters' updates) and their calls.
    assert step(5) - step(1) == 4 * (3 * 16 + UPDATE_WORK_PER_PARAMETER * 20 + LAYER_OVERHEAD_WORK)


def test_a_deep_narrow_network_at_batch_size_one_on_many_samples_is_refused():
    deepest = [{"units": 4}] * CONFIG_LIMITS.max_hidden_layers
    deep = {"data": {"n_samples": 5000}, "model": {"hidden": deepest},
            "training": {"batch_size": 1}}
    with pytest.raises(ConfigError) as refused:
        parse_config(deep)
    assert [detail["loc"] for detail in refused.value.details] == ["model.hidden"]
    assert epoch_work(parse_config({**deep, "training": {"batch_size": 8}})) <= BOUND
