"""What the course predicts must happen in the engine, on small versions of the course's setups.

Every run is seeded; networks and epoch counts are kept small so the file
runs in a few seconds, while the effects stay far larger than seed noise.
"""

import copy

import pytest

from server.engine import train


def run(config):
    events = list(train(config))
    metrics = [event["data"] for event in events if event["event"] == "metrics"]
    return metrics, events[-1]["data"]


def variant(base, **changes):
    config = copy.deepcopy(base)
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        section = config
        for key in path:
            section = section.setdefault(key, {})
        section[last] = value
    return config


# The course's initialization exercise: circles, a [10, 5] ReLU network.
CIRCLES = {"seed": 0, "data": {"dataset": "circles", "n_samples": 300, "noise": 0.05},
           "model": {"hidden": [{"units": 10}, {"units": 5}]},
           "training": {"epochs": 60, "batch_size": 64, "boundary_every": 0, "report_every": 60}}


def test_zero_initialization_stays_at_chance_while_he_fits_circles():
    zeros_metrics, zeros = run(variant(CIRCLES, model__init="zeros"))
    he_metrics, he = run(variant(CIRCLES, model__init="he"))
    # Symmetry: every hidden unit computes the same thing, so the network
    # cannot do better than a constant guess.
    assert zeros["train_accuracy"] < 0.56 and zeros["dev_accuracy"] < 0.6
    assert zeros["train_loss"] == pytest.approx(0.693, abs=0.01)
    assert he["train_accuracy"] > 0.95 and he["dev_accuracy"] > 0.85
    assert he["train_loss"] < 0.4 * he_metrics[0]["train_loss"]


def test_very_large_random_initialization_starts_huge_and_ends_worse():
    large_metrics, large = run(variant(CIRCLES, model__init="random", model__init_scale=10))
    he_metrics, he = run(variant(CIRCLES, model__init="he"))
    assert large_metrics[0]["train_cost"] > 50 * he_metrics[0]["train_cost"]
    assert large["train_loss"] > 10 * he["train_loss"]
    assert large["train_accuracy"] < he["train_accuracy"] - 0.2


def test_adam_beats_mini_batch_gradient_descent_at_a_small_learning_rate():
    moons = {"seed": 0, "data": {"dataset": "moons", "n_samples": 300, "noise": 0.2},
             "model": {"hidden": [{"units": 5}, {"units": 2}]},
             "optimizer": {"learning_rate": 0.001},
             "training": {"epochs": 100, "batch_size": 32, "boundary_every": 0, "report_every": 100}}
    _, gd = run(variant(moons, optimizer__name="gd"))
    _, adam = run(variant(moons, optimizer__name="adam"))
    assert adam["train_loss"] < 0.75 * gd["train_loss"]
    assert adam["dev_loss"] < 0.9 * gd["dev_loss"]


def test_learning_rate_decay_lets_a_large_rate_converge():
    moons = {"seed": 0, "data": {"dataset": "moons", "n_samples": 300, "noise": 0.2},
             "model": {"hidden": [{"units": 16}, {"units": 16}]},
             "optimizer": {"name": "gd", "learning_rate": 3},
             "training": {"epochs": 80, "batch_size": 32, "boundary_every": 0}}
    constant, _ = run(moons)
    decayed, _ = run(variant(moons, schedule={"name": "exponential", "base": 0.95}))
    constant_tail = [m["train_loss"] for m in constant[-10:]]
    decayed_tail = [m["train_loss"] for m in decayed[-10:]]
    # At a constant rate the loss keeps jumping around; decayed, it settles lower.
    assert max(constant_tail) > 2 * min(constant_tail)
    assert max(decayed_tail) - min(decayed_tail) < 0.01
    assert max(decayed_tail) < min(constant_tail)
    assert decayed[-1]["learning_rate"] == pytest.approx(3 * 0.95 ** 79)


# Few noisy points and a network far bigger than they need.
OVERFITTING = {"seed": 2, "data": {"dataset": "moons", "n_samples": 100, "noise": 0.35,
                                   "split": {"train": 0.4, "dev": 0.3, "test": 0.3}},
               "model": {"hidden": [{"units": 64}, {"units": 64}]},
               "optimizer": {"learning_rate": 0.02},
               "training": {"epochs": 300, "batch_size": 64, "boundary_every": 0, "report_every": 300}}


def gap(done):
    return done["train_accuracy"] - done["dev_accuracy"]


def test_an_over_parameterized_network_overfits_and_l2_or_dropout_shrink_the_gap():
    _, plain = run(OVERFITTING)
    _, l2 = run(variant(OVERFITTING, regularization={"l2": 1.0}))
    _, dropout = run(variant(OVERFITTING, model__hidden=[{"units": 64, "keep_prob": 0.5}] * 2))
    assert plain["train_accuracy"] == 1.0
    assert gap(plain) > 0.2
    assert plain["dev_loss"] > 10 * plain["train_loss"]
    assert gap(l2) < gap(plain) - 0.1
    assert gap(dropout) < gap(plain) - 0.05
    assert l2["dev_loss"] < 0.25 * plain["dev_loss"]
    assert dropout["dev_loss"] < plain["dev_loss"]


def test_a_deep_sigmoid_network_with_small_weights_has_vanishing_first_layer_gradients():
    deep = {"seed": 0, "data": {"dataset": "circles", "n_samples": 200},
            "model": {"hidden": [{"units": 10, "activation": "sigmoid"}] * 10,
                      "init": "random", "init_scale": 0.1},
            "training": {"epochs": 1, "boundary_every": 0}}
    metrics, _ = run(deep)
    norms = [layer["grad_norm"] for layer in metrics[-1]["layers"]]
    assert len(norms) == 11
    assert norms[0] < 1e-6 * norms[-1]
    # Layer by layer towards the input, the gradient keeps shrinking.
    assert all(earlier < later for earlier, later in zip(norms, norms[1:], strict=False))
    # He-initialized ReLU layers of the same shape keep them within a few orders of magnitude.
    relu, _ = run(variant(deep, model={"hidden": [{"units": 10}] * 10, "init": "he"}))
    relu_norms = [layer["grad_norm"] for layer in relu[-1]["layers"]]
    assert relu_norms[0] > 1e-2 * relu_norms[-1]
