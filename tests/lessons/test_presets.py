"""Every preset shows its effect: each one and its counterfactual twin are trained by the
engine with the preset's own seed and the next two, and every claim of the lesson text is
checked with a margin its dev set can resolve.

Runs are unpaced and cached per config, so a comparison run (the overfitting preset, say)
trains once however many lessons compare against it.
"""

import functools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from server.engine import Trainer, gradient_check, train
from server.engine.config import parse_config
from server.engine.layers import targets_from_labels
from server.lessons.presets import DEFAULT_VIEW, PRESETS, TOPICS, _merge, preset_json

# The lessons the course needs, by their stable ids.
REQUIRED_IDS = {
    "underfitting", "overfitting", "l2-regularization", "dropout", "early-stopping",
    "data-augmentation", "mismatched-dev-test", "normalizing-inputs", "init-zeros",
    "init-large-random", "init-he", "init-xavier", "vanishing-gradients", "exploding-gradients",
    "gradient-checking", "batch-gradient-descent", "mini-batch-gradient-descent",
    "stochastic-gradient-descent", "momentum", "rmsprop", "adam", "learning-rate-decay",
    "batch-norm", "digits-little-data",
}
SEED_OFFSETS = (0, 1, 2)
MINI_BATCH_IDS = ("batch-gradient-descent", "mini-batch-gradient-descent", "stochastic-gradient-descent")
# The regularization lessons' dev set has 990 points: one standard error of an accuracy near 85%
# is 1.1 points, and a difference on the same points is measured more precisely still.
MIN_DEV_GAIN, MIN_MEAN_DEV_GAIN = 0.03, 0.04


@dataclass(frozen=True)
class Run:
    metrics: list[dict]
    done: dict
    diagnosis: dict | None
    boundary: dict | None

    @property
    def accuracy_gap(self) -> float:
        return self.done["train_accuracy"] - self.done["dev_accuracy"]

    @property
    def verdict(self) -> str | None:
        return None if self.diagnosis is None else self.diagnosis["verdict"]

    @property
    def advice(self) -> str:
        return " ".join(self.diagnosis["advice"]) if self.diagnosis else ""

    def train_losses(self) -> np.ndarray:
        return np.array([m["train_loss"] for m in self.metrics])

    def predicted_classes(self) -> np.ndarray:
        return np.array(self.boundary["z"]) > 0.5

    def regions(self) -> int:
        """Connected regions of one predicted class on the final boundary grid (4-neighbours):
        2 for a clean boundary between two classes, more when it draws islands."""
        grid = self.predicted_classes()
        seen = np.zeros_like(grid)
        count = 0
        for start in zip(*np.nonzero(~seen), strict=True):
            if seen[start]:
                continue
            count += 1
            seen[start] = True
            stack = [start]
            while stack:
                row, col = stack.pop()
                for near in ((row + 1, col), (row - 1, col), (row, col + 1), (row, col - 1)):
                    inside = 0 <= near[0] < grid.shape[0] and 0 <= near[1] < grid.shape[1]
                    if inside and not seen[near] and grid[near] == grid[row, col]:
                        seen[near] = True
                        stack.append(near)
        return count


@functools.cache
def _run_json(config_json: str) -> Run:
    config = json.loads(config_json)
    config["training"]["epochs_per_second"] = None
    metrics, done, diagnosis, boundary = [], None, None, None
    for event in train(config):
        name, data = event["event"], event["data"]
        if name == "metrics":
            metrics.append(data)
        elif name == "diagnosis":
            diagnosis = data
        elif name == "boundary":
            boundary = data
        elif name == "done":
            done = data
    assert done is not None
    return Run(metrics, done, diagnosis, boundary)


def _config(preset_id: str, offset: int, twin: bool, changes: dict) -> dict:
    preset = PRESETS[preset_id]
    config = preset.twin_config() if twin else preset.full_config()
    config = _merge(config, changes)
    config["seed"] += offset
    return config


def run(preset_id: str, offset: int = 0, twin: bool = False, **changes) -> Run:
    """Train the preset (or its counterfactual twin), ``changes`` merged in, with seed + ``offset``."""
    return _run_json(json.dumps(_config(preset_id, offset, twin, changes), sort_keys=True))


def runs(preset_id: str, twin: bool = False, **changes) -> list[Run]:
    return [run(preset_id, offset, twin, **changes) for offset in SEED_OFFSETS]


def pairs(preset_id: str) -> list[tuple[Run, Run]]:
    """(preset, twin) per seed."""
    return list(zip(runs(preset_id), runs(preset_id, twin=True), strict=True))


EFFECTS: dict[str, Callable[[], None]] = {}


def effect(preset_id: str):
    def register(check: Callable[[], None]) -> Callable[[], None]:
        EFFECTS[preset_id] = check
        return check
    return register


# --- the catalogue -------------------------------------------------------------------------------


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


def test_every_preset_has_a_counterfactual_that_changes_what_it_says():
    for preset_id, preset in PRESETS.items():
        served = preset_json(preset)["counterfactual"]
        assert served["label"].startswith("Run it"), preset_id
        assert served["difference"] and len(served["difference"]) <= 30, preset_id
        twin = preset.twin_config()
        assert twin == parse_config(twin).model_dump(mode="json")
        assert twin != preset.full_config(), f"{preset_id}: the twin must differ"
        merged = _merge(preset.full_config(), served["config"])
        assert twin == parse_config(merged).model_dump(mode="json")
        # Only what the twin names changes: the seed, the data and the pace stay.
        assert twin["seed"] == preset.full_config()["seed"]
        assert twin["training"]["epochs_per_second"] == preset.full_config()["training"]["epochs_per_second"]


def test_lessons_draw_raw_curves_and_the_mini_batch_lessons_share_one_horizon():
    views = {preset_id: preset_json(preset)["view"] for preset_id, preset in PRESETS.items()}
    assert all(view["smoothing"] == 0 for view in views.values())
    assert all(set(view) == set(DEFAULT_VIEW) for view in views.values())
    per_iteration = {preset_id for preset_id, view in views.items() if view["chart"] == "iteration"}
    assert per_iteration == set(MINI_BATCH_IDS)
    assert len({PRESETS[preset_id].full_config()["training"]["epochs"] for preset_id in MINI_BATCH_IDS}) == 1
    # A lesson that talks about the weights shows them.
    for preset_id, preset in PRESETS.items():
        text = f"{preset.explanation} {preset.look_at}"
        assert views[preset_id]["weights"] == ("‖W‖" in text), preset_id


def test_no_lesson_repeats_a_claim_that_was_false():
    for preset in PRESETS.values():
        text = f"{preset.explanation} {preset.look_at} {preset.try_next}".lower()
        assert "training curve is noisy" not in text
        assert "weight norms in the gradients panel" not in text


def test_every_preset_has_an_effect_check():
    assert set(EFFECTS) == set(PRESETS)


@pytest.mark.parametrize("preset_id", sorted(PRESETS))
def test_preset_shows_its_effect(preset_id):
    EFFECTS[preset_id]()


# --- bias and variance ------------------------------------------------------


@effect("underfitting")
def _underfitting():
    for line, hidden in pairs("underfitting"):
        assert line.done["train_accuracy"] < 0.65
        assert abs(line.accuracy_gap) < 0.1
        # Chance-level train error from a model that cannot bend: bias, not a failure to train.
        assert line.verdict == "high_bias" and line.diagnosis["focus"] == "bias"
        assert "bigger network" in line.advice
        assert hidden.done["dev_accuracy"] > line.done["dev_accuracy"] + 0.25
        assert hidden.verdict == "good"


@effect("feature-engineering")
def _feature_engineering():
    for squares, plain in pairs("feature-engineering"):
        assert squares.done["train_accuracy"] > 0.95 and squares.done["dev_accuracy"] > 0.95
        assert squares.verdict == "good"
        assert plain.done["dev_accuracy"] < 0.6 and plain.verdict == "high_bias"
        assert squares.boundary["neurons"]["layers"] == []


@effect("overfitting")
def _overfitting():
    for result in runs("overfitting"):
        assert result.done["train_accuracy"] > 0.95
        assert result.accuracy_gap > 0.12
        assert result.verdict == "high_variance" and result.diagnosis["settled"]
        # The dev loss turns around: its best epoch is early and it ends far above that minimum.
        dev_losses = [m["dev_loss"] for m in result.metrics]
        assert result.done["best_epoch"] < result.done["epoch"] / 2
        assert dev_losses[-1] > 1.5 * min(dev_losses)
        # Islands around the mislabelled training points.
        assert result.regions() >= 5


def _fixes_overfitting(preset_id: str) -> list[tuple[Run, Run]]:
    """Each seed: dev accuracy several points above the unregularized twin's, a dev loss under
    half of it, a boundary that differs visibly, and a variance that shrinks."""
    measured = pairs(preset_id)
    gains = [fixed.done["dev_accuracy"] - overfit.done["dev_accuracy"] for fixed, overfit in measured]
    assert min(gains) >= MIN_DEV_GAIN, gains
    assert np.mean(gains) >= MIN_MEAN_DEV_GAIN, gains
    for fixed, overfit in measured:
        assert overfit.verdict == "high_variance"
        assert fixed.done["dev_loss"] < overfit.done["dev_loss"] / 2
        assert fixed.diagnosis["variance"] < overfit.diagnosis["variance"] - 0.05
        changed = np.mean(fixed.predicted_classes() != overfit.predicted_classes())
        assert changed > 0.05, f"only {changed:.1%} of the boundary grid changed class"
        assert fixed.regions() <= overfit.regions() - 2, "the islands should be gone"
    assert measured[0][0].verdict == "good"
    return measured


@effect("l2-regularization")
def _l2():
    for fixed, overfit in _fixes_overfitting("l2-regularization"):
        # The weights panel: ||W|| far smaller with the penalty.
        def weights(result):
            return sum(layer["weight_norm"] for layer in result.metrics[-1]["layers"])
        assert weights(fixed) < weights(overfit) / 2


@effect("dropout")
def _dropout():
    for fixed, _ in _fixes_overfitting("dropout"):
        assert fixed.done["train_accuracy"] < 0.96


@effect("data-augmentation")
def _augmentation():
    for offset, (fixed, _) in enumerate(_fixes_overfitting("data-augmentation")):
        assert "augment the data you have" not in fixed.advice
        # Overdone (jitter 0.5), it starts to underfit: train and dev both fall.
        overdone = run("data-augmentation", offset, data={"augment": {"jitter": 0.5}})
        assert overdone.done["train_accuracy"] < fixed.done["train_accuracy"] - 0.03
        assert overdone.done["dev_accuracy"] < fixed.done["dev_accuracy"]


@effect("early-stopping")
def _early_stopping():
    epochs = PRESETS["early-stopping"].full_config()["training"]["epochs"]
    for stopped, full in pairs("early-stopping"):
        assert stopped.done["reason"] == "early_stopped"
        assert stopped.done["epoch"] < epochs / 2
        # The best epoch is where the drawn (unsmoothed) dev loss curve bottoms out.
        lowest = min(stopped.metrics, key=lambda m: m["dev_loss"])
        assert stopped.done["best_epoch"] == lowest["epoch"]
        # The restored weights are the best dev epoch's, far better than where overfitting ends.
        assert stopped.done["dev_loss"] < full.done["dev_loss"] / 2
        assert stopped.diagnosis["settled"] and stopped.verdict == "good"
        assert full.done["reason"] == "completed" and full.verdict == "high_variance"


@effect("mismatched-dev-test")
def _mismatched():
    for mismatched, matched in pairs("mismatched-dev-test"):
        assert mismatched.done["train_accuracy"] > 0.95
        assert mismatched.accuracy_gap > 0.1
        # The train-dev set separates the gaps: almost no variance, a large mismatch.
        diagnosis = mismatched.diagnosis
        assert diagnosis["verdict"] == "data_mismatch" and diagnosis["settled"]
        assert diagnosis["variance"] < 0.03 and diagnosis["data_mismatch"] > 0.1
        assert mismatched.metrics[-1]["train_dev_accuracy"] > 0.95
        assert "not variance" in mismatched.advice and "Regularize more" not in mismatched.advice
        assert matched.accuracy_gap < 0.05 and matched.verdict == "good"
        assert mismatched.done["test_accuracy"] < matched.done["test_accuracy"] - 0.1


@effect("digits-little-data")
def _little_data():
    for little, more in pairs("digits-little-data"):
        assert little.done["train_accuracy"] > 0.99
        assert little.accuracy_gap > 0.15
        assert little.verdict == "high_variance"
        assert more.accuracy_gap < little.accuracy_gap - 0.1
        assert more.done["dev_accuracy"] > little.done["dev_accuracy"] + 0.1


# --- normalization, initialization, gradients ----------------------------------

WRONG_FIXES = ("bigger network", "more training data", "Regularize more")


def _not_learning(result: Run, cause: str) -> None:
    assert result.verdict == "not_learning", result.diagnosis
    assert result.diagnosis["cause"] == cause
    assert result.diagnosis["settled"]
    assert not any(wrong in result.advice for wrong in WRONG_FIXES)


@effect("normalizing-inputs")
def _normalizing_inputs():
    for raw, normalized in pairs("normalizing-inputs"):
        assert raw.done["train_accuracy"] < 0.3
        assert raw.done["train_loss"] > 2.0  # ln 10 = 2.30: chance for ten classes
        _not_learning(raw, "unnormalized_inputs")
        # A huge first loss, then ln 10 from the first epoch on.
        assert raw.metrics[0]["train_loss"] > 3 * math.log(10)
        assert raw.metrics[1]["train_loss"] == pytest.approx(math.log(10), abs=0.2)
        assert normalized.done["train_accuracy"] > 0.95
        assert normalized.verdict != "not_learning"


@effect("init-zeros")
def _init_zeros():
    for zeros, he in pairs("init-zeros"):
        assert zeros.done["train_accuracy"] < 0.56
        assert zeros.done["train_loss"] == pytest.approx(math.log(2), abs=0.01)
        # Nothing flows back to the weights: the symmetry is never broken.
        assert all(layer["grad_norm"] == 0 for m in zeros.metrics[1:] for layer in m["layers"])
        _not_learning(zeros, "zero_init")
        assert he.verdict == "good"


@effect("init-large-random")
def _init_large_random():
    for large, he in pairs("init-large-random"):
        assert large.metrics[0]["train_cost"] > 100 * math.log(2)
        assert large.metrics[0]["train_cost"] > 100 * he.metrics[0]["train_cost"]
        assert large.done["train_accuracy"] < he.done["train_accuracy"] - 0.2
        # Whatever the verdict, the advice names the initialization, never a bigger network.
        assert "initial weights are far too large" in large.advice
        assert "bigger network" not in large.advice


@effect("init-he")
def _init_he():
    for he, zeros in pairs("init-he"):
        assert he.done["train_accuracy"] > 0.95 and he.done["dev_accuracy"] > 0.93
        assert he.verdict == "good"
        assert he.done["train_loss"] < zeros.done["train_loss"] / 5


@effect("init-xavier")
def _init_xavier():
    for xavier, small in pairs("init-xavier"):
        assert xavier.done["train_accuracy"] > 0.85 and xavier.done["dev_accuracy"] > 0.85
        _not_learning(small, "vanishing_gradients")
        assert small.done["train_accuracy"] < 0.56
    # The lesson's next step: He's larger weights train these tanh layers too.
    assert all(run("init-xavier", offset, model={"init": "he"}).done["train_accuracy"] > 0.85
               for offset in SEED_OFFSETS)


def _gradient_ratios(result: Run) -> list[float]:
    return [m["layers"][0]["grad_norm"] / m["layers"][-1]["grad_norm"] for m in result.metrics[1:]]


@effect("vanishing-gradients")
def _vanishing_gradients():
    for sigmoid, relu in pairs("vanishing-gradients"):
        ratios = _gradient_ratios(sigmoid)
        # Orders of magnitude, at every epoch of the run.
        assert max(ratios) < 1e-2
        assert np.median(ratios) < 1e-4
        assert sigmoid.done["train_accuracy"] < 0.56
        _not_learning(sigmoid, "vanishing_gradients")
        assert relu.done["train_accuracy"] > 0.85
        assert max(_gradient_ratios(relu)) > 1e-2


def _initial_gradient_norms(config: dict) -> list[float]:
    trainer = Trainer(config)
    dataset, network = trainer.dataset, trainer.network
    targets = targets_from_labels(dataset.y_train[:32], dataset.n_classes)
    network.compute_gradients(dataset.X_train[:32], targets, None, update_running=False)
    return [norm["grad_norm"] for norm in network.layer_norms(None)]


@effect("exploding-gradients")
def _exploding_gradients():
    exploding_norms = _initial_gradient_norms(PRESETS["exploding-gradients"].full_config())
    he_norms = _initial_gradient_norms(PRESETS["exploding-gradients"].twin_config())
    # Every layer's gradient at the start is hundreds of times He's.
    assert min(e / h for e, h in zip(exploding_norms, he_norms, strict=True)) > 100
    for exploding, he in pairs("exploding-gradients"):
        assert exploding.metrics[0]["train_cost"] > 1000 * math.log(2)
        # One step later every ReLU is dead: nothing flows back any more.
        assert all(layer["grad_norm"] == 0 for layer in exploding.metrics[1]["layers"])
        _not_learning(exploding, "learning_rate_too_large")
        assert "initial weights are far too large" in exploding.advice
        assert he.done["train_accuracy"] > 0.75


@effect("gradient-checking")
def _gradient_checking():
    config = PRESETS["gradient-checking"].full_config()
    correct = gradient_check(config)
    broken = gradient_check(config, inject_bug=True)
    assert correct["verdict"] == "great"
    assert broken["verdict"] == "wrong"
    assert broken["difference"] > 1e4 * correct["difference"]
    relu = gradient_check(PRESETS["gradient-checking"].twin_config())
    assert relu["verdict"] in ("great", "ok")


@effect("batch-norm")
def _batch_norm():
    for normalized, plain in pairs("batch-norm"):
        assert normalized.done["train_accuracy"] > 0.9 and normalized.done["dev_accuracy"] > 0.88
        # Separated within a few epochs.
        assert any(m["train_accuracy"] > 0.9 for m in normalized.metrics[:11])
        # Without batch norm the same rate overshoots: the run diverges or its ReLUs die.
        assert plain.done["reason"] == "diverged" or plain.done["train_accuracy"] < 0.6
        if plain.done["reason"] != "diverged":
            _not_learning(plain, "learning_rate_too_large")
    assert runs("batch-norm")[0].verdict == "good"


# --- mini-batches, optimizers, schedules ---------------------------------------


def _roughness(losses: np.ndarray) -> float:
    """How often the epoch-to-epoch loss goes up (0: a smooth descent)."""
    return float(np.mean(np.diff(losses) > 0))


def _iteration_costs(result: Run) -> np.ndarray:
    return np.array([cost for m in result.metrics[1:] for cost in m["iteration_costs"]])


def _jitter(result: Run) -> float:
    """Typical change from one plotted iteration cost to the next, relative to the typical cost,
    after the first tenth of the run (whose steep fall is no noise)."""
    costs = _iteration_costs(result)
    costs = costs[costs.size // 10:]
    return float(np.median(np.abs(np.diff(costs))) / np.median(costs))


@effect("batch-gradient-descent")
def _batch():
    for batch, mini in pairs("batch-gradient-descent"):
        assert batch.metrics[-1]["iteration"] == batch.done["epoch"]
        assert _roughness(batch.train_losses()[1:]) < 0.1
        # The per-iteration chart: one cost per update, falling smoothly.
        costs = _iteration_costs(batch)
        assert costs.size == batch.done["iteration"]
        assert _roughness(costs) < 0.1 and _jitter(batch) < 0.02
        assert mini.done["train_loss"] < 0.6 * batch.done["train_loss"]
        # The lesson says it ran out of updates, not of capacity: so does the diagnosis.
        if batch.verdict == "high_bias":
            assert "Still learning" in batch.advice and "smaller mini-batches" in batch.advice
            assert batch.advice.index("Still learning") < batch.advice.index("bigger network")


@effect("mini-batch-gradient-descent")
def _mini_batch():
    for offset, (mini, batch) in enumerate(pairs("mini-batch-gradient-descent")):
        assert mini.metrics[-1]["iteration"] == 6 * mini.done["epoch"]  # 360 examples in batches of 64
        assert mini.done["train_loss"] < 0.6 * batch.done["train_loss"]
        assert mini.done["train_accuracy"] > 0.95
        # Each batch is another sample: the cost per iteration jitters, less than one example's.
        assert 5 * _jitter(batch) < _jitter(mini) < _jitter(run("stochastic-gradient-descent", offset)) / 3


@effect("stochastic-gradient-descent")
def _stochastic():
    for offset, sgd in enumerate(runs("stochastic-gradient-descent")):
        batch, mini = run("batch-gradient-descent", offset), run("mini-batch-gradient-descent", offset)
        assert sgd.metrics[-1]["iteration"] == 360 * sgd.done["epoch"]
        # The most progress per epoch: after five epochs, well below batch descent after five,
        # and below where batch descent gets in forty.
        assert sgd.train_losses()[5] < batch.train_losses()[5] / 1.5
        assert sgd.train_losses()[5] < batch.done["train_loss"]
        # The least per update: mini-batches after their 240 updates are below SGD after 360.
        assert sgd.metrics[1]["iteration"] == 360 and mini.metrics[-1]["iteration"] == 240
        assert mini.metrics[-1]["train_loss"] < sgd.metrics[1]["train_loss"]
        # The course's figure: single-example costs jump about, many of them up, by a lot.
        assert _roughness(_iteration_costs(sgd)) > 0.3
        assert _jitter(sgd) > 0.5


@effect("momentum")
def _momentum():
    for momentum, plain in pairs("momentum"):
        assert momentum.done["train_accuracy"] > 0.95
        assert momentum.verdict == "good"
        # The lesson's next step, gd at the same rate: the diagnosis blames the rate, not the network.
        assert plain.done["train_accuracy"] < 0.6
        _not_learning(plain, "learning_rate_too_large")


def _adaptive(preset_id: str) -> None:
    for adaptive, plain in pairs(preset_id):
        assert adaptive.done["train_accuracy"] > 0.95
        assert adaptive.done["train_loss"] < plain.done["train_loss"] / 3
        assert plain.done["train_accuracy"] < adaptive.done["train_accuracy"] - 0.05
    if preset_id == "rmsprop":  # the lesson's next step: at α 0.1 the loss jumps
        for offset, lesson in enumerate(runs(preset_id)):
            jumpy = run(preset_id, offset, optimizer={"learning_rate": 0.1})
            assert np.diff(jumpy.train_losses()).max() > 5 * np.diff(lesson.train_losses()).max()


for _adaptive_id in ("rmsprop", "adam"):
    effect(_adaptive_id)(functools.partial(_adaptive, _adaptive_id))


@effect("learning-rate-decay")
def _learning_rate_decay():
    for decayed, constant in pairs("learning-rate-decay"):
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
    # Flattened by the penalty: high bias, and the advice loosens it (not "not learning").
    assert strong.diagnosis["focus"] == "bias"
    assert "(L2 λ 30): loosen it" in " ".join(strong.diagnosis["advice"])
