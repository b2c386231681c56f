"""Whole-network backprop against finite differences, and the gradient-check entry point."""

import numpy as np
import pytest

from server.engine import ConfigError, gradient_check
from server.engine.gradcheck import (
    check_network,
    inject_backprop_bug,
    numerical_gradient,
    relative_difference,
    verdict_for,
)
from server.engine.layers import targets_from_labels
from server.engine.model import HiddenLayer, Network


def make_batch(rng, m, n_features, n_classes):
    X = rng.normal(size=(m, n_features))
    labels = rng.integers(0, n_classes, size=m)
    return X, targets_from_labels(labels, n_classes)


def make_network(hidden, n_features=3, n_classes=2, init="xavier", seed=0, l2=0.0, l1=0.0):
    network = Network(n_features, hidden, n_classes, init, 0.01, np.random.default_rng(seed))
    network.l2, network.l1 = l2, l1
    return network


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "sigmoid", "linear"])
@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("n_classes", [2, 4])
def test_backprop_matches_finite_differences(activation, batch_norm, n_classes):
    rng = np.random.default_rng(11)
    hidden = [HiddenLayer(5, activation, 1.0, batch_norm), HiddenLayer(4, activation, 1.0, batch_norm)]
    network = make_network(hidden, n_classes=n_classes, seed=3)
    X, targets = make_batch(rng, 16, 3, n_classes)
    result = check_network(network, X, targets, epsilon=1e-6)
    assert result["verdict"] in ("great", "ok"), result
    assert result["difference"] < 1e-6
    assert result["n_checked"] == result["n_parameters"] == network.parameters.size


@pytest.mark.parametrize(("l2", "l1"), [(0.7, 0.0), (0.0, 0.5), (0.3, 0.2)])
def test_penalties_are_in_the_cost_and_the_gradient(l2, l1):
    rng = np.random.default_rng(5)
    network = make_network([HiddenLayer(6, "tanh"), HiddenLayer(3, "relu", 1.0, True)],
                           n_classes=3, l2=l2, l1=l1, init="he")
    X, targets = make_batch(rng, 10, 3, 3)
    result = check_network(network, X, targets, epsilon=1e-6)
    assert result["difference"] < 1e-6, result
    # Only weights are penalized: the cost with penalties minus the data loss is exactly it.
    weights = network.parameters[:network.n_weights]
    expected = l2 / 20 * np.sum(weights ** 2) + l1 / 20 * np.sum(np.abs(weights))
    bare = make_network([HiddenLayer(6, "tanh"), HiddenLayer(3, "relu", 1.0, True)], n_classes=3, init="he")
    bare.parameters[:] = network.parameters
    assert network.cost(X, targets) - bare.cost(X, targets) == pytest.approx(expected)


def test_logistic_regression_gradient():
    rng = np.random.default_rng(2)
    network = make_network([], n_features=4, init="he")
    X, targets = make_batch(rng, 20, 4, 2)
    result = check_network(network, X, targets)
    assert result["verdict"] in ("great", "ok")
    assert [layer["name"] for layer in result["layers"]] == ["W1", "b1"]


def test_parameter_names_follow_the_layers():
    network = make_network([HiddenLayer(4), HiddenLayer(3, "relu", 1.0, True)])
    assert network.parameter_names() == ["W1", "W2", "W3", "b1", "b3", "gamma2", "beta2"]
    assert network.param_views["W2"].shape == (4, 3)
    assert network.n_weights == 3 * 4 + 4 * 3 + 3 * 1


@pytest.mark.parametrize("hidden", [[], [HiddenLayer(5, "linear")],
                                    [HiddenLayer(6, "sigmoid", 1.0, True)] * 3])
@pytest.mark.parametrize("n_classes", [2, 10])
def test_injected_bug_is_always_wrong(hidden, n_classes):
    rng = np.random.default_rng(9)
    network = make_network(hidden, n_features=4, n_classes=n_classes, init="he")
    inject_backprop_bug(network)
    X, targets = make_batch(rng, 32, 4, n_classes)
    assert check_network(network, X, targets)["verdict"] == "wrong"


def test_dropout_must_be_off():
    network = make_network([HiddenLayer(3, "relu", 0.5)])
    X, targets = make_batch(np.random.default_rng(0), 4, 3, 2)
    with pytest.raises(ValueError, match="dropout"):
        check_network(network, X, targets)


def test_large_networks_are_checked_along_random_directions_of_every_array():
    network = make_network([HiddenLayer(40, "tanh"), HiddenLayer(40, "tanh", 1.0, True)],
                           n_features=10, init="xavier")
    X, targets = make_batch(np.random.default_rng(1), 8, 10, 2)
    result = check_network(network, X, targets, max_coordinates=300)
    assert result["method"] == "directions"
    assert result["n_parameters"] == network.parameters.size > 300
    assert [layer["name"] for layer in result["layers"]] == network.parameter_names()
    assert all(layer["n_checked"] >= 2 for layer in result["layers"])
    assert result["verdict"] in ("great", "ok"), result
    inject_backprop_bug(network)
    assert check_network(network, X, targets, max_coordinates=300)["verdict"] == "wrong"


def test_a_wrong_gradient_entry_shows_in_the_direction_check():
    network = make_network([HiddenLayer(30, "relu")], n_features=10, init="he")
    X, targets = make_batch(np.random.default_rng(2), 8, 10, 2)
    exact = check_network(network, X, targets, max_coordinates=100)
    assert exact["verdict"] in ("great", "ok")
    original_backward = network.backward

    def backward_with_one_wrong_entry(dlogits, caches, m):
        original_backward(dlogits, caches, m)
        network.grad_views["W1"][3, 7] += 0.5

    network.backward = backward_with_one_wrong_entry
    broken = check_network(network, X, targets, max_coordinates=100)
    assert {layer["name"]: layer["difference"] for layer in broken["layers"]}["W1"] > 1e-3


def test_check_leaves_the_network_as_it_was():
    network = make_network([HiddenLayer(4, "relu", 1.0, True)])
    before = network.state()
    X, targets = make_batch(np.random.default_rng(4), 8, 3, 2)
    check_network(network, X, targets)
    after = network.state()
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1][0], after[1][0])
    np.testing.assert_array_equal(before[2][0], after[2][0])


@pytest.mark.parametrize(("difference", "verdict"),
                         [(0.0, "great"), (9.9e-8, "great"), (1e-7, "ok"), (1e-5, "suspicious"),
                          (9.9e-4, "suspicious"), (1e-3, "wrong"), (float("nan"), "wrong")])
def test_verdict_thresholds(difference, verdict):
    assert verdict_for(difference) == verdict


def test_relative_difference():
    assert relative_difference(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_difference(np.array([1.0, 0.0]), np.array([-1.0, 0.0])) == 1.0
    assert relative_difference(np.array([3.0, 4.0]), np.array([3.0, 4.0])) == 0.0


def test_numerical_gradient_refuses_views_it_could_not_perturb():
    x = np.zeros((3, 3))[:, :2]
    with pytest.raises(ValueError):
        numerical_gradient(lambda: 0.0, x)


# --- the contract entry point -------------------------------------------------

SMALL = {"data": {"dataset": "moons", "n_samples": 120},
         "model": {"hidden": [{"units": 5, "activation": "tanh"}, {"units": 4, "batch_norm": True}]},
         "regularization": {"l2": 0.1, "l1": 0.05}}


def test_gradient_check_of_a_config_is_great():
    result = gradient_check(SMALL)
    assert result["verdict"] in ("great", "ok"), result
    assert result["epsilon"] == 1e-7
    assert [layer["name"] for layer in result["layers"]] == ["W1", "W2", "W3", "b1", "b3", "gamma2", "beta2"]
    assert all(np.isfinite(layer["difference"]) for layer in result["layers"])
    assert result["init"] == "he" and result["bug_injected"] is False


@pytest.mark.parametrize("config", [
    SMALL,
    {"model": {"hidden": []}},
    {"model": {"hidden": [], "init": "zeros"}},
    {"model": {"hidden": [{"units": 8}], "init": "zeros"}},
    {"data": {"dataset": "digits", "n_samples": 200}, "model": {"hidden": [{"units": 6}]}},
    {"model": {"hidden": [{"units": 5, "activation": "sigmoid"}] * 4, "init": "random"}},
])
def test_injected_bug_is_caught_on_every_kind_of_config(config):
    assert gradient_check(config, inject_bug=True)["verdict"] == "wrong"
    assert gradient_check(config)["verdict"] in ("great", "ok")


def test_dropout_is_off_during_the_check():
    config = {"model": {"hidden": [{"units": 6, "keep_prob": 0.5}]}, "data": {"n_samples": 100}}
    assert gradient_check(config)["verdict"] in ("great", "ok")


def test_zero_initialization_is_checked_at_he():
    result = gradient_check({"model": {"init": "zeros"}, "data": {"n_samples": 100}})
    assert result["init"] == "he"
    assert result["verdict"] in ("great", "ok")


def test_gradient_check_is_deterministic():
    assert gradient_check(SMALL) == gradient_check(SMALL)


def test_bad_config_and_epsilon_are_rejected():
    with pytest.raises(ConfigError):
        gradient_check({"model": {"init": "ones"}})
    with pytest.raises(ValueError, match="epsilon"):
        gradient_check({}, epsilon=0.0)


# --- kinks: a correct ReLU network must not read "wrong" --------------------------------------

KINKED = {"seed": 1000000000, "model": {"hidden": [{}, {}]}}


def test_a_relu_kink_between_the_two_evaluations_is_left_out_and_named():
    result = gradient_check(KINKED)
    # Without the exclusion this correct network read 4.9e-3, "wrong", from one bias coordinate.
    assert result["verdict"] in ("great", "ok"), result
    assert result["kinks"] >= 1
    assert "kink" in result["note"] and f"{result['kinks']} of" in result["note"]
    by_name = {layer["name"]: layer for layer in result["layers"]}
    assert by_name["b2"]["kinks"] >= 1
    assert result["n_checked"] + result["kinks"] == result["n_parameters"]
    assert gradient_check(KINKED, inject_bug=True)["verdict"] == "wrong"


def test_a_pre_activation_at_exactly_zero_is_a_kink():
    network = make_network([HiddenLayer(1, "relu")], n_features=1, init="he")
    network.param_views["W1"][...] = 1.0
    network.param_views["b1"][...] = 0.0
    X = np.array([[0.0], [1.0]])  # the first example's pre-activation is exactly 0
    targets = np.array([[1.0], [0.0]])
    result = check_network(network, X, targets, epsilon=1e-6)
    assert {layer["name"]: layer["kinks"] for layer in result["layers"]}["b1"] == 1
    assert result["verdict"] in ("great", "ok")


def test_smooth_networks_have_no_kinks_and_no_note():
    network = make_network([HiddenLayer(5, "tanh"), HiddenLayer(3, "sigmoid")], init="xavier")
    X, targets = make_batch(np.random.default_rng(3), 16, 3, 2)
    result = check_network(network, X, targets)
    assert result["kinks"] == 0 and result["note"] is None


def test_an_l1_weight_at_zero_is_a_kink():
    network = make_network([], n_features=3, init="he", l1=0.5)
    network.param_views["W1"][1, 0] = 0.0
    X, targets = make_batch(np.random.default_rng(6), 12, 3, 2)
    result = check_network(network, X, targets, epsilon=1e-6)
    assert result["layers"][0]["kinks"] == 1
    assert result["verdict"] in ("great", "ok")


def test_the_injected_bug_lives_in_the_check_not_in_the_model():
    buggy = make_network([HiddenLayer(4)], init="he", seed=1)
    clean = make_network([HiddenLayer(4)], init="he", seed=1)
    inject_backprop_bug(buggy)
    X, targets = make_batch(np.random.default_rng(7), 8, 3, 2)
    buggy.compute_gradients(X, targets, None)
    clean.compute_gradients(X, targets, None)
    np.testing.assert_allclose(buggy.grad_views["W2"], 2 * clean.grad_views["W2"])
    np.testing.assert_array_equal(buggy.grad_views["W1"], clean.grad_views["W1"])
    assert not hasattr(Network(3, [], 2, "he", 0.01, np.random.default_rng(0)), "backprop_bug")



def test_an_array_whose_every_probe_is_on_a_kink_reports_no_difference():
    network = make_network([HiddenLayer(1, "relu")], n_features=1, init="he")
    network.parameters[:] = 0.0
    network.param_views["W2"][...] = 1.0
    X = np.zeros((4, 1))  # every pre-activation is b1 = 0: b1's one probe steps across the kink
    targets = np.array([[1.0], [1.0], [1.0], [0.0]])
    result = check_network(network, X, targets, epsilon=1e-6)
    by_name = {layer["name"]: layer for layer in result["layers"]}
    assert by_name["b1"] == {"name": "b1", "difference": None, "n_checked": 0, "kinks": 1}
    assert by_name["b2"]["n_checked"] == 1 and result["verdict"] in ("great", "ok")
