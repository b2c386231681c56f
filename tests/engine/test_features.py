"""Input features (``data.features``) and the neuron maps the diagram draws."""

from __future__ import annotations

import json

import numpy as np
import pytest

from server.engine import make_data, train
from server.engine.config import FEATURES, ConfigError, parse_config
from server.engine.data import prepare_data
from server.engine.neurons import NEURON_GRID, decode_maps, hidden_activations, input_maps
from server.engine.preview import preview
from server.engine.trainer import Trainer

ENGINEERED = ["x1", "x2", "x1_squared", "x2_squared", "x1_x2", "sin_x1", "sin_x2"]


def dataset_of(**data):
    config = parse_config({"data": data})
    return prepare_data(config, np.random.default_rng(config.seed))


def raw_points(dataset):
    """The raw (x1, x2) of each split, recovered from the plane."""
    return {name: P * dataset.plane_std + dataset.plane_mean for name, P in dataset.plane.items()}


# --- features -------------------------------------------------------------------------------

def test_the_default_features_leave_the_data_as_the_plane():
    dataset = dataset_of()
    assert dataset.features == ("x1", "x2") and not dataset.engineered
    assert dataset.plane["train"] is dataset.X_train


def test_each_feature_is_its_formula_of_the_raw_points_normalized_with_training_statistics():
    plain = dataset_of(dataset="moons", noise=0.2)
    engineered = dataset_of(dataset="moons", noise=0.2, features=ENGINEERED)
    raw = raw_points(engineered)["train"]
    np.testing.assert_allclose(raw, plain.X_train * plain.std + plain.mean)
    x1, x2 = raw[:, 0], raw[:, 1]
    expected = np.column_stack((x1, x2, x1 ** 2, x2 ** 2, x1 * x2, np.sin(x1), np.sin(x2)))
    mean, std = expected.mean(axis=0), expected.std(axis=0)
    np.testing.assert_allclose(engineered.X_train, (expected - mean) / std, atol=1e-12)
    np.testing.assert_allclose(engineered.mean, mean)
    # dev and test use the training statistics, never their own
    dev_raw = raw_points(engineered)["dev"]
    dev_expected = np.column_stack((dev_raw[:, 0] ** 2,))
    np.testing.assert_allclose(engineered.X_dev[:, 2:3], (dev_expected - mean[2]) / std[2], atol=1e-12)
    # the labels and the points themselves are the default run's
    np.testing.assert_array_equal(engineered.y_train, plain.y_train)
    np.testing.assert_allclose(engineered.plane["dev"], plain.X_dev)


def test_features_follow_the_order_asked_for_and_normalization_off_keeps_raw_values():
    dataset = dataset_of(features=["x1_x2", "x1"], normalize={"center": False, "scale": False})
    raw = raw_points(dataset)["test"]
    np.testing.assert_allclose(dataset.X_test, np.column_stack((raw[:, 0] * raw[:, 1], raw[:, 0])))


def test_make_data_and_the_config_event_count_the_features():
    config = {"data": {"features": ["x1_squared", "x2_squared", "sin_x1"]}, "training": {"epochs": 1}}
    X, _ = make_data(config)["train"]
    assert X.shape[1] == 3
    first = next(iter(train(config)))
    assert first["data"]["data"]["n_features"] == 3
    assert preview(config)["parameters"] == 3 * 8 + 8 + 8 + 1


def test_the_boundary_grid_goes_through_the_same_transform():
    trainer = Trainer({"data": {"features": ["x1_squared", "x2_squared"]}, "model": {"hidden": []},
                       "training": {"epochs": 2, "boundary_every": 1}})
    xs, ys, plane = trainer.dataset.grid()
    boundary = next(event["data"] for event in trainer.events() if event["event"] == "boundary")
    raw = plane * trainer.dataset.plane_std + trainer.dataset.plane_mean
    inputs = (raw ** 2 - trainer.dataset.mean) / trainer.dataset.std
    expected = trainer.network.probabilities(inputs).reshape(len(ys), len(xs))
    np.testing.assert_allclose(np.array(boundary["z"]), expected, atol=6e-4)


def test_augmentation_rotates_the_points_before_their_features():
    config = {"data": {"features": ["x1_squared", "x2_squared"], "augment": {"enabled": True, "jitter": 0}}}
    dataset = prepare_data(parse_config(config), np.random.default_rng(0))
    augmented = dataset.augment(dataset.augment_source[:50], np.random.default_rng(1))
    radius = (dataset.X_train[:50] * dataset.std + dataset.mean).sum(axis=1)
    # x1^2 + x2^2 is the squared distance from the origin: a rotation about the centroid moves it a little
    assert augmented.shape == (50, 2)
    moved = (augmented * dataset.std + dataset.mean).sum(axis=1)
    assert not np.allclose(moved, radius) and np.allclose(moved, radius, atol=0.3)


@pytest.mark.parametrize(("features", "loc"), [
    (["x1", "x3"], "data.features.1"),
    (["x1", "x1"], "data.features"),
    ([], "data.features"),
    ("x1", "data.features"),
])
def test_bad_features_name_the_field(features, loc):
    with pytest.raises(ConfigError) as caught:
        parse_config({"data": {"features": features}})
    assert [detail["loc"] for detail in caught.value.details] == [loc]


def test_digits_refuses_any_features_but_the_default_and_says_why():
    with pytest.raises(ConfigError) as caught:
        parse_config({"data": {"dataset": "digits", "n_samples": 300, "features": ["x1", "x1_squared"]}})
    (detail,) = caught.value.details
    assert detail["loc"] == "data.features" and "2-D data sets only" in detail["msg"]
    default = parse_config({"data": {"dataset": "digits", "features": ["x1", "x2"]}})
    assert default.data.features == ["x1", "x2"]


def test_the_schema_lists_the_features():
    from server.engine.config import config_schema
    schema = config_schema()
    field = schema["$defs"]["Data"]["properties"]["features"]
    assert field["default"] == ["x1", "x2"] and field["uniqueItems"] is True and field["minItems"] == 1
    assert field["items"]["enum"] == list(FEATURES)


# --- neuron maps ------------------------------------------------------------------------------

MAPPED = {"data": {"dataset": "circles", "n_samples": 200},
          "model": {"hidden": [{"units": 3, "activation": "tanh"}, {"units": 12, "activation": "relu",
                                                                     "batch_norm": True}]},
          "training": {"epochs": 6, "boundary_every": 3}}


def boundaries(config):
    trainer = Trainer(config)
    events = list(trainer.events())
    return trainer, [event["data"] for event in events if event["event"] == "boundary"], events


def test_neuron_maps_match_a_direct_forward_pass_of_the_final_network():
    trainer, pictures, events = boundaries(MAPPED)
    assert [picture["epoch"] for picture in pictures] == [0, 3, 6]
    neurons = pictures[-1]["neurons"]
    size = neurons["size"]
    assert size == NEURON_GRID
    xs, ys, plane = trainer.dataset.grid(resolution=size)
    assert neurons["x"] == [round(xs[0], 4), round(xs[-1], 4)]
    assert neurons["y"] == [round(ys[0], 4), round(ys[-1], 4)]
    direct = hidden_activations(trainer.network, trainer.dataset.inputs_from_plane(plane))
    assert [(layer["units"], layer["shown"]) for layer in neurons["layers"]] == [(3, 3), (12, 8)]
    for layer, exact in zip(neurons["layers"], direct, strict=True):
        maps = decode_maps(layer, size)
        expected = exact[:, :layer["shown"]].T.reshape(layer["shown"], size, size)
        span = np.array(layer["hi"]) - np.array(layer["lo"])
        assert np.all(np.abs(maps - expected) <= span[:, None, None] / 510 + 1e-4)
    # batch norm with running averages, tanh in [-1, 1]
    assert all(-1 <= value <= 1 for value in neurons["layers"][0]["lo"] + neurons["layers"][0]["hi"])
    json.dumps(events, allow_nan=False)


def test_weights_go_with_the_maps_between_the_mapped_neurons():
    trainer, pictures, _ = boundaries(MAPPED)
    weights = pictures[-1]["neurons"]["weights"]
    assert [np.array(block).shape for block in weights] == [(2, 3), (3, 8), (8, 1)]
    np.testing.assert_allclose(weights[1], trainer.network.weights[1][:, :8], atol=5e-4)


def test_maps_change_as_the_network_trains():
    _, pictures, _ = boundaries(MAPPED)
    assert pictures[0]["neurons"]["layers"][0]["maps"] != pictures[-1]["neurons"]["layers"][0]["maps"]


def test_zero_initialized_neurons_stay_identical():
    config = {**MAPPED, "model": {"init": "zeros", "hidden": [{"units": 4, "activation": "sigmoid"}]},
              "optimizer": {"name": "gd", "learning_rate": 0.5}}
    _, pictures, _ = boundaries(config)
    layer = pictures[-1]["neurons"]["layers"][0]
    maps = decode_maps(layer, NEURON_GRID)
    assert all(np.array_equal(maps[0], other) for other in maps[1:])
    assert len(set(layer["lo"])) == 1 and len(set(layer["hi"])) == 1
    assert layer["hi"][0] > layer["lo"][0]  # they learned, all alike


def test_a_dead_relu_has_a_constant_zero_map():
    trainer = Trainer({**MAPPED, "model": {"hidden": [{"units": 3, "activation": "relu"}]},
                       "training": {"epochs": 1, "boundary_every": 1}})
    # Neuron 2 can never fire: a bias far below anything the weights reach on the plane.
    trainer.network.biases[0][1] = -1000.0
    boundary = next(event["data"] for event in trainer.events() if event["event"] == "boundary")
    layer = boundary["neurons"]["layers"][0]
    maps = decode_maps(layer, NEURON_GRID)
    assert layer["lo"][1] == 0 and layer["hi"][1] == 0 and not maps[1].any()
    assert maps[0].any() or maps[2].any()


DROPPING = {"data": {"dataset": "circles", "n_samples": 200},
            "model": {"hidden": [{"units": 8, "activation": "tanh", "keep_prob": 0.5},
                                 {"units": 4, "activation": "relu"}]},
            "training": {"epochs": 200, "batch_size": 32, "boundary_every": 1}}


def test_a_dropout_layer_names_the_units_the_latest_step_dropped_for_one_example():
    trainer, pictures, _ = boundaries(DROPPING)
    untrained, *trained = pictures
    assert untrained["neurons"]["layers"][0]["dropped"] is None  # no training step yet
    assert all(picture["neurons"]["layers"][1]["dropped"] is None for picture in pictures)  # keep_prob 1
    drops = [picture["neurons"]["layers"][0]["dropped"] for picture in trained]
    assert all(dropped == sorted(set(dropped)) and set(dropped) <= set(range(8)) for dropped in drops)
    # 200 steps x 8 units, each dropped with probability 1 - keep_prob: 1,600 draws, sd 0.0125
    fraction = sum(map(len, drops)) / (8 * len(drops))
    assert abs(fraction - 0.5) < 0.05
    assert len({tuple(dropped) for dropped in drops}) > 50  # resampled at every step
    # the last event's units are the zeros of the last step's mask for its first example
    row = trainer.network.dropout_rows[0]
    assert drops[-1] == np.flatnonzero(row[:8] == 0).tolist()
    assert set(np.unique(row)) <= {0.0, 2.0}  # inverted dropout: kept units scaled by 1 / keep_prob


def test_evaluation_passes_drop_nothing_and_leave_the_latest_mask_alone():
    trainer, _, _ = boundaries({**DROPPING, "training": {**DROPPING["training"], "epochs": 2}})
    network = trainer.network
    row = network.dropout_rows[0]
    X = trainer.dataset.X_train
    first, _ = network.forward(X, False)
    second, _ = network.forward(X, False)
    np.testing.assert_array_equal(first, second)  # no mask drawn in evaluation
    network.forward(X, True, None, update_running=False)  # a gradient check's pass: no generator, no dropout
    assert network.dropout_rows[0] is row


def test_without_dropout_no_layer_names_dropped_units():
    _, pictures, _ = boundaries(MAPPED)
    assert all(layer["dropped"] is None for picture in pictures for layer in picture["neurons"]["layers"])


def test_logistic_regression_sends_its_weights_and_no_layers():
    _, pictures, _ = boundaries({**MAPPED, "model": {"hidden": []}})
    neurons = pictures[-1]["neurons"]
    assert neurons["layers"] == [] and np.array(neurons["weights"][0]).shape == (2, 1)


def test_input_maps_are_every_feature_over_the_plane_once_in_config():
    config = {"data": {"dataset": "xor", "features": ["x1", "x1_x2"]}, "training": {"epochs": 1}}
    events = list(train(config))
    maps = events[0]["data"]["input_maps"]
    assert maps["names"] == list(FEATURES)
    assert sum("input_maps" in event["data"] for event in events) == 1
    assert preview(config)["input_maps"] == maps
    dataset = prepare_data(parse_config(config), np.random.default_rng(0))
    _, _, plane = dataset.grid(resolution=maps["size"])
    raw = plane * dataset.plane_std + dataset.plane_mean
    decoded = decode_maps(maps, maps["size"])
    np.testing.assert_allclose(decoded[FEATURES.index("x1_x2")].ravel(), raw[:, 0] * raw[:, 1], atol=0.02)
    np.testing.assert_allclose(decoded[FEATURES.index("sin_x2")].ravel(), np.sin(raw[:, 1]), atol=0.01)
    assert input_maps(dataset_of(dataset="digits", n_samples=200)) is None


def test_an_upload_takes_no_features_and_an_export_names_the_engineered_ones():
    with pytest.raises(ConfigError) as caught:
        parse_config({"data": {"dataset": "upload:abcdefghijklmnop", "features": ["x1_x2"]}})
    assert [detail["loc"] for detail in caught.value.details] == ["data.features"]
    from server.engine.export import network_state
    trainer = Trainer({"data": {"features": ["x1_squared", "x2_squared"]}, "training": {"epochs": 1}})
    state = network_state(trainer.network, trainer.dataset)
    assert state["features"] == ["x1_squared", "x2_squared"]
    np.testing.assert_allclose(state["normalization"]["mean"], trainer.dataset.mean)


def test_a_data_seed_regenerates_the_data_and_keeps_the_network():
    base = {"seed": 3, "data": {"dataset": "moons"}, "training": {"epochs": 1}}
    plain, again = Trainer(base), Trainer({**base, "data": {"dataset": "moons", "seed": None}})
    regenerated = Trainer({**base, "data": {"dataset": "moons", "seed": 11}})
    np.testing.assert_array_equal(again.dataset.X_train, plain.dataset.X_train)
    assert not np.allclose(regenerated.dataset.X_train, plain.dataset.X_train)
    np.testing.assert_array_equal(regenerated.network.parameters, plain.network.parameters)
    other = Trainer({**base, "data": {"dataset": "moons", "seed": 12}})
    np.testing.assert_array_equal(other.network.parameters, plain.network.parameters)
    assert not np.allclose(other.dataset.X_train, regenerated.dataset.X_train)
