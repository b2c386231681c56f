"""Every preset shows its effect: each one is trained by the engine with its own seed.

Runs are unpaced and cached per config, so a comparison run (the overfitting
preset, say) trains once however many lessons compare against it.
"""

import functools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from server.engine import gradient_check, train
from server.engine.config import parse_config
from server.lessons.presets import PRESETS, TOPICS, _merge, preset_json

# The lessons the course needs (issue 5), by their stable ids.
REQUIRED_IDS = {
    "underfitting", "overfitting", "l2-regularization", "dropout", "early-stopping",
    "data-augmentation", "mismatched-dev-test", "normalizing-inputs", "init-zeros",
    "init-large-random", "init-he", "vanishing-gradients", "gradient-checking",
    "batch-gradient-descent", "mini-batch-gradient-descent", "stochastic-gradient-descent",
    "momentum", "rmsprop", "adam", "learning-rate-decay", "batch-norm", "digits-little-data",
}


@dataclass(frozen=True)
class Run:
    metrics: list[dict]
    done: dict
    diagnosis: dict | None

    @property
    def accuracy_gap(self) -> float:
        return self.done["train_accuracy"] - self.done["dev_accuracy"]

    @property
    def loss_gap(self) -> float:
        return self.done["dev_loss"] - self.done["train_loss"]

    def train_losses(self) -> np.ndarray:
        return np.array([m["train_loss"] for m in self.metrics])


@functools.cache
def _run_json(config_json: str) -> Run:
    config = json.loads(config_json)
    config["training"]["epochs_per_second"] = None
    metrics, done, diagnosis = [], None, None
    for event in train(config):
        if event["event"] == "metrics":
            metrics.append(event["data"])
        elif event["event"] == "diagnosis":
            diagnosis = event["data"]
        elif event["event"] == "done":
            done = event["data"]
    assert done is not None
    return Run(metrics, done, diagnosis)


def run(preset_id: str, **changes) -> Run:
    """Train the preset (with ``changes`` merged into its config) to the end."""
    config = _merge(PRESETS[preset_id].full_config(), changes)
    return _run_json(json.dumps(config, sort_keys=True))


EFFECTS: dict[str, Callable[[], None]] = {}


def effect(preset_id: str):
    def register(check: Callable[[], None]) -> Callable[[], None]:
        EFFECTS[preset_id] = check
        return check
    return register


def test_the_course_lessons_are_all_there_with_stable_ids():
    assert REQUIRED_IDS <= set(PRESETS)
    for preset_id, preset in PRESETS.items():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", preset_id)
        assert preset.topic in TOPICS
        assert "seed" in preset.config, f"{preset_id} must name its own seed"
        assert preset.explanation and preset.look_at and preset.try_next and preset.title
        assert set(preset.related) <= set(PRESETS) - {preset_id}


def test_every_preset_validates_and_serves_its_full_config():
    for preset in PRESETS.values():
        served = preset_json(preset)
        assert served["config"] == parse_config(served["config"]).model_dump(mode="json")
        assert served["lesson"] == preset.topic
        # Paced so that the curves can be watched: a run takes seconds, not a blink or minutes.
        training = served["config"]["training"]
        assert 4 <= training["epochs"] / training["epochs_per_second"] <= 12


def test_every_preset_has_an_effect_check():
    assert set(EFFECTS) == set(PRESETS)


@pytest.mark.parametrize("preset_id", sorted(PRESETS))
def test_preset_shows_its_effect(preset_id):
    EFFECTS[preset_id]()


# --- bias and variance ------------------------------------------------------


@effect("underfitting")
def _underfitting():
    result = run("underfitting")
    assert result.done["train_accuracy"] < 0.65
    assert abs(result.accuracy_gap) < 0.1
    # Chance-level train error dwarfs any train-dev difference: bias is what to fix.
    assert result.diagnosis["verdict"] in ("high_bias", "high_bias_and_variance")
    assert result.diagnosis["focus"] == "bias"


@effect("overfitting")
def _overfitting():
    result = run("overfitting")
    assert result.done["train_accuracy"] > 0.95
    assert result.accuracy_gap > 0.08
    assert result.done["dev_loss"] > 10 * result.done["train_loss"]
    assert result.diagnosis["verdict"] in ("high_variance", "high_bias_and_variance")
    # The dev loss turns around: its best epoch is early and it ends far above that minimum.
    dev_losses = [m["dev_loss"] for m in result.metrics]
    assert result.done["best_epoch"] < result.done["epoch"] / 2
    assert dev_losses[-1] > 2 * min(dev_losses)


def _fixes_overfitting(preset_id: str) -> None:
    overfit, fixed = run("overfitting"), run(preset_id)
    assert overfit.accuracy_gap - fixed.accuracy_gap >= 0.05
    assert fixed.loss_gap < overfit.loss_gap / 3
    assert fixed.done["dev_loss"] < overfit.done["dev_loss"] / 2


for _fix in ("l2-regularization", "dropout", "data-augmentation"):
    effect(_fix)(functools.partial(_fixes_overfitting, _fix))


@effect("early-stopping")
def _early_stopping():
    overfit, stopped = run("overfitting"), run("early-stopping")
    assert stopped.done["reason"] == "early_stopped"
    assert stopped.done["epoch"] < PRESETS["early-stopping"].config["training"]["epochs"] / 2
    # The restored weights are the best dev epoch's, far better than where overfitting ends.
    assert stopped.done["dev_loss"] < overfit.done["dev_loss"] / 2
    assert stopped.accuracy_gap < overfit.accuracy_gap


@effect("mismatched-dev-test")
def _mismatched():
    mismatched = run("mismatched-dev-test")
    matched = run("mismatched-dev-test", data={"dev_noise": None})
    assert mismatched.done["train_accuracy"] > 0.95
    assert mismatched.accuracy_gap > 0.1
    assert matched.accuracy_gap < 0.05
    assert mismatched.done["test_accuracy"] < matched.done["test_accuracy"] - 0.1


@effect("digits-little-data")
def _little_data():
    little = run("digits-little-data")
    everything = run("digits-little-data", training={"epochs": 30},
                     data={"n_samples": 1797, "split": {"train": 0.6, "dev": 0.2, "test": 0.2}})
    assert little.done["train_accuracy"] > 0.99
    assert little.accuracy_gap > 0.15
    assert everything.accuracy_gap < little.accuracy_gap - 0.1
    assert everything.done["dev_accuracy"] > little.done["dev_accuracy"] + 0.1


# --- normalization, initialization, gradients ----------------------------------


@effect("normalizing-inputs")
def _normalizing_inputs():
    raw = run("normalizing-inputs")
    normalized = run("normalizing-inputs", data={"normalize": {"center": True, "scale": True}})
    assert raw.done["train_accuracy"] < 0.3
    assert raw.done["train_loss"] > 2.0  # ln 10 = 2.30: chance for ten classes
    assert normalized.done["train_accuracy"] > 0.95


@effect("init-zeros")
def _init_zeros():
    result = run("init-zeros")
    assert result.done["train_accuracy"] < 0.6
    assert result.done["train_loss"] == pytest.approx(math.log(2), abs=0.01)
    # Nothing flows back to the weights: the symmetry is never broken.
    assert all(layer["grad_norm"] == 0 for m in result.metrics[1:] for layer in m["layers"])


@effect("init-large-random")
def _init_large_random():
    large, he = run("init-large-random"), run("init-he")
    assert large.metrics[0]["train_cost"] > 1000 * math.log(2)
    assert he.metrics[0]["train_cost"] < 2.0
    assert large.done["train_accuracy"] < he.done["train_accuracy"] - 0.2


@effect("init-he")
def _init_he():
    he, zeros = run("init-he"), run("init-zeros")
    assert he.done["train_accuracy"] > 0.9 and he.done["dev_accuracy"] > 0.9
    assert he.done["train_loss"] < zeros.done["train_loss"] / 5


@effect("vanishing-gradients")
def _vanishing_gradients():
    result = run("vanishing-gradients")
    ratios = [m["layers"][0]["grad_norm"] / m["layers"][-1]["grad_norm"] for m in result.metrics[1:]]
    # Orders of magnitude, at every epoch of the run.
    assert max(ratios) < 1e-3
    assert np.median(ratios) < 1e-4
    assert result.done["train_accuracy"] < 0.6


@effect("gradient-checking")
def _gradient_checking():
    config = PRESETS["gradient-checking"].full_config()
    correct = gradient_check(config)
    broken = gradient_check(config, inject_bug=True)
    assert correct["verdict"] == "great"
    assert broken["verdict"] == "wrong"
    assert broken["difference"] > 1e4 * correct["difference"]


@effect("batch-norm")
def _batch_norm():
    normalized = run("batch-norm")
    layers = PRESETS["batch-norm"].full_config()["model"]["hidden"]
    plain_layers = [{**layer, "batch_norm": False} for layer in layers]
    plain = run("batch-norm", model={"hidden": plain_layers})
    assert normalized.done["train_accuracy"] > 0.75
    assert plain.done["train_accuracy"] < 0.6
    assert normalized.done["train_loss"] < plain.done["train_loss"] - 0.2


# --- mini-batches, optimizers, schedules ---------------------------------------


def _roughness(losses: np.ndarray) -> float:
    """How often the epoch-to-epoch loss goes up (0: a smooth descent)."""
    return float(np.mean(np.diff(losses) > 0))


@effect("batch-gradient-descent")
def _batch():
    batch = run("batch-gradient-descent")
    assert batch.metrics[-1]["iteration"] == batch.done["epoch"]
    assert _roughness(batch.train_losses()[1:]) < 0.1


@effect("mini-batch-gradient-descent")
def _mini_batch():
    batch, mini = run("batch-gradient-descent"), run("mini-batch-gradient-descent")
    assert mini.metrics[-1]["iteration"] == 6 * mini.done["epoch"]  # 360 examples in batches of 64
    assert mini.done["train_loss"] < 0.6 * batch.done["train_loss"]


@effect("stochastic-gradient-descent")
def _stochastic():
    sgd, mini, batch = (run(preset_id) for preset_id in (
        "stochastic-gradient-descent", "mini-batch-gradient-descent", "batch-gradient-descent"))
    assert sgd.metrics[-1]["iteration"] == 360 * sgd.done["epoch"]
    # The most progress per epoch: after five epochs, well below batch descent after five.
    assert sgd.train_losses()[5] < batch.train_losses()[5] / 1.5
    # The least per update: after 360 updates mini-batches are far lower.
    assert sgd.metrics[1]["iteration"] == mini.metrics[-1]["iteration"] == 360
    assert mini.metrics[-1]["train_loss"] < sgd.metrics[1]["train_loss"] / 2


@effect("momentum")
def _momentum():
    momentum, plain = run("momentum"), run("momentum", optimizer={"name": "gd"})
    assert momentum.done["train_accuracy"] > 0.95
    assert plain.done["train_accuracy"] < 0.8
    assert momentum.done["train_loss"] < plain.done["train_loss"] / 5


def _adaptive(preset_id: str) -> None:
    adaptive, plain = run(preset_id), run(preset_id, optimizer={"name": "gd"})
    assert adaptive.done["train_accuracy"] > 0.95
    assert adaptive.done["train_loss"] < plain.done["train_loss"] / 3


for _adaptive_id in ("rmsprop", "adam"):
    effect(_adaptive_id)(functools.partial(_adaptive, _adaptive_id))


@effect("learning-rate-decay")
def _learning_rate_decay():
    decayed = run("learning-rate-decay")
    constant = run("learning-rate-decay", schedule={"name": "constant"})
    rates = [m["learning_rate"] for m in decayed.metrics]
    assert rates[-1] < 0.1 * rates[0]
    last_decayed, last_constant = decayed.train_losses()[-10:], constant.train_losses()[-10:]
    assert last_decayed.std() < last_constant.std() / 3
    assert last_decayed.mean() < last_constant.mean()


def test_l2_lambda_trades_variance_for_bias_as_the_lesson_says():
    weak = run("l2-regularization", regularization={"l2": 0.1})
    strong = run("l2-regularization", regularization={"l2": 30.0})
    lesson = run("l2-regularization")
    assert weak.accuracy_gap > 2 * lesson.accuracy_gap
    assert strong.done["train_accuracy"] < lesson.done["train_accuracy"] - 0.02
    assert strong.diagnosis["focus"] == "bias"
