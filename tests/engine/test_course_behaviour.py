"""What the course predicts must happen in the engine, on small versions of the course's setups.

Every run is seeded; networks and epoch counts are kept small so the file
runs in a few seconds, while the effects stay far larger than seed noise.
"""

import copy

import numpy as np
import pytest

from server.engine import Trainer, gradient_check, train


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


# Few noisy points and a network far bigger than they need, measured on a dev set large
# enough to resolve a few points (990 examples: one standard error is about 1.2 points).
OVERFITTING = {"data": {"dataset": "moons", "n_samples": 1200, "noise": 0.2, "label_noise": 0.1,
                        "split": {"train": 0.075, "dev": 0.825, "test": 0.1}},
               "model": {"hidden": [{"units": 64}, {"units": 64}]},
               "optimizer": {"learning_rate": 0.02},
               "training": {"epochs": 300, "batch_size": 90, "boundary_every": 0, "report_every": 300}}
SEEDS = (3, 4, 5)


def gap(done):
    return done["train_accuracy"] - done["dev_accuracy"]


@pytest.mark.parametrize("seed", SEEDS)
def test_an_over_parameterized_network_overfits_and_each_regularizer_gains_several_dev_points(seed):
    base = variant(OVERFITTING, seed=seed)
    _, plain = run(base)
    fixes = {"l2": variant(base, regularization={"l2": 1.0}),
             "dropout": variant(base, model__hidden=[{"units": 64, "keep_prob": 0.5}] * 2),
             "augmentation": variant(base, data__augment={"enabled": True, "rotation_degrees": 0.0,
                                                          "jitter": 0.15})}
    assert plain["train_accuracy"] > 0.98
    assert gap(plain) > 0.15
    for name, config in fixes.items():
        _, fixed = run(config)
        assert fixed["dev_accuracy"] > plain["dev_accuracy"] + 0.03, name
        assert gap(fixed) < gap(plain) - 0.08, name
        assert fixed["dev_loss"] < plain["dev_loss"] / 2, name


@pytest.mark.parametrize("seed", (0, 1, 2))
def test_the_default_first_run_is_a_clear_success(seed):
    events = list(train({"seed": seed}))
    diagnosis = [event["data"] for event in events if event["event"] == "diagnosis"][-1]
    done = events[-1]["data"]
    assert diagnosis["verdict"] == "good" and diagnosis["settled"]
    # Within a few points of the data's own floor (circles at noise 0.1: about 16% error).
    assert done["train_accuracy"] > 1 - diagnosis["bayes_error"] - 0.03
    assert done["dev_accuracy"] > 1 - diagnosis["bayes_error"] - 0.1


def test_batch_norm_evaluates_with_running_averages_not_the_batch_at_hand():
    config = {"seed": 6, "data": {"dataset": "moons", "n_samples": 1000, "noise": 0.15,
                                  "split": {"train": 0.4, "dev": 0.4, "test": 0.2}},
              "model": {"hidden": [{"units": 16, "batch_norm": True}] * 4},
              "training": {"epochs": 40, "batch_size": 32, "boundary_every": 0, "report_every": 40}}
    trainer = Trainer(config)
    list(trainer.events())
    network, X, y = trainer.network, trainer.dataset.X_dev, trainer.dataset.y_dev

    def train_mode_predictions(batch):
        logits, _ = network.forward(batch, True, None, update_running=False)
        return (logits[:, 0] > 0).astype(int)

    running = network.predict(X)
    assert np.mean(running == y) > 0.95
    # Normalized with the statistics of the whole dev set, about the same answers...
    assert np.mean(train_mode_predictions(X) == running) > 0.95
    # ...but one example at a time its own mean is itself: Z normalizes to 0, every answer the same.
    alone = np.array([train_mode_predictions(X[index:index + 1])[0] for index in range(len(y))])
    assert len(set(alone.tolist())) == 1
    assert np.mean(alone == y) < 0.6
    # An example's train-mode output depends on its batch; with the running averages it does not.
    small_batch = X[:8]
    in_small, _ = network.forward(small_batch, True, None, update_running=False)
    in_all, _ = network.forward(X, True, None, update_running=False)
    assert np.max(np.abs(in_small - in_all[:8])) > 0.1
    np.testing.assert_allclose(network.logits(small_batch), network.logits(X)[:8])


def test_a_correct_relu_network_is_not_called_wrong_by_the_gradient_check():
    # A kink between theta - eps and theta + eps once made this read 4.9e-3, "wrong".
    result = gradient_check({"seed": 1000000000, "model": {"hidden": [{}, {}]}})
    assert result["verdict"] in ("great", "ok")
    assert gradient_check({"seed": 1000000000, "model": {"hidden": [{}, {}]}},
                          inject_bug=True)["verdict"] == "wrong"


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
