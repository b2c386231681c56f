"""Lesson presets: one experiment per idea of the course, ready to run.

A preset is a (partial) run config plus three short texts: what it shows,
what to look at while it trains, and what to change next.  Partial configs are
merged onto the defaults by ``parse_config``; the API serves the full,
normalized config.  Every preset names its own seed, and
``tests/lessons/test_presets.py`` runs each one through the engine to check that
the effect it promises is really there with that seed.

Ids are kebab-case and stable: course pages embed them in URLs
(``/embed?preset=overfitting``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

from server.engine.config import parse_config

# Lesson topics, in the order of the course.
TOPICS = {
    "bias-variance": "Bias and variance",
    "regularization": "Regularization",
    "data": "Train, dev and test data",
    "normalization": "Normalizing inputs",
    "initialization": "Initialization and vanishing gradients",
    "gradient-checking": "Gradient checking",
    "mini-batches": "Mini-batch gradient descent",
    "optimizers": "Momentum, RMSprop and Adam",
    "learning-rate-decay": "Learning-rate decay",
    "batch-norm": "Batch normalization",
}

# A lesson run lasts about this long at its default pace: long enough to watch
# the curves move, short enough to try the next change.  The learner can
# change the speed on the page.
LESSON_SECONDS = 8.0
# Round paces, so that the page's speed control shows a plain number.
LESSON_PACES = (1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 50.0, 100.0)


# What the page shows a lesson with unless the preset says otherwise: raw curves
# (smoothing hides the truth a lesson is about), one point per epoch, no weights.
#: ``test_data``: the boundary chart shows the dev and test points too ("Show test data").
DEFAULT_VIEW = {"smoothing": 0, "chart": "epoch", "weights": False, "test_data": False}


@dataclass(frozen=True)
class Counterfactual:
    """The lesson's twin: ``config`` (partial) merged over the preset's changes one thing.

    ``label`` is the button text ("Run it without dropout") and ``difference``
    names the change in words for the ghost curves' legend ("keep_prob 1").
    """

    label: str
    config: dict[str, Any]
    difference: str


@dataclass(frozen=True)
class Preset:
    """A lesson: ``config`` is a partial run config (merged onto the defaults)."""

    id: str
    title: str
    topic: str
    config: dict[str, Any]
    explanation: str
    look_at: str
    try_next: str
    counterfactual: Counterfactual
    related: tuple[str, ...] = field(default=())
    view: dict[str, Any] = field(default_factory=dict)

    def full_config(self) -> dict[str, Any]:
        """The validated config with every default filled in (JSON-ready).

        Unless the preset sets its own pace, ``training.epochs_per_second`` is
        the round pace at which the run lasts closest to ``LESSON_SECONDS``.
        """
        config = parse_config(copy.deepcopy(self.config)).model_dump(mode="json")
        training = config["training"]
        if training["epochs_per_second"] is None:
            ideal = training["epochs"] / LESSON_SECONDS
            training["epochs_per_second"] = min(LESSON_PACES, key=lambda pace: abs(math.log(pace / ideal)))
        return parse_config(config).model_dump(mode="json")

    def twin_config(self) -> dict[str, Any]:
        """The counterfactual's full config: the preset's with the twin's change merged in."""
        return parse_config(_merge(self.full_config(), self.counterfactual.config)).model_dump(mode="json")


def preset_json(preset: Preset) -> dict[str, Any]:
    """The API shape: ``{"id", "title", "config", "explanation", "look_at", "try_next", "lesson",
    "counterfactual", "view", ...}``."""
    counterfactual = preset.counterfactual
    return {
        "id": preset.id,
        "title": preset.title,
        "lesson": preset.topic,
        "lesson_title": TOPICS[preset.topic],
        "config": preset.full_config(),
        "explanation": preset.explanation,
        "look_at": preset.look_at,
        "try_next": preset.try_next,
        "related": list(preset.related),
        "counterfactual": {"label": counterfactual.label, "config": copy.deepcopy(counterfactual.config),
                           "difference": counterfactual.difference},
        "view": {**DEFAULT_VIEW, **preset.view},
    }


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` merged in, section by section (lists are replaced)."""
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _layers(count: int, **layer: Any) -> list[dict[str, Any]]:
    return [dict(layer) for _ in range(count)]


# The shared starting point of the overfitting lessons, so that each fix changes one
# thing: two layers of 64 ReLUs on 90 training points, 9 of them with a flipped
# label.  The dev set is large (990 points: one standard error is about 1.3
# points), so that a gain of a few points is a measurement, not luck.
OVERFITTING = {
    "seed": 3,
    "data": {"dataset": "moons", "n_samples": 1200, "noise": 0.2, "label_noise": 0.1,
             "split": {"train": 0.075, "dev": 0.825, "test": 0.1}},
    "model": {"hidden": _layers(2, units=64, activation="relu")},
    "optimizer": {"name": "adam", "learning_rate": 0.02},
    "training": {"epochs": 300, "batch_size": 90, "report_every": 2, "boundary_every": 10},
}

# Two rings and 400 dev points for the initialization lessons.
RINGS = {"dataset": "circles", "n_samples": 1000, "noise": 0.05,
         "split": {"train": 0.4, "dev": 0.4, "test": 0.2}}

# The course's initialization experiment: a [10, 5] ReLU network on two rings.
INITIALIZATION = {
    "seed": 2,
    "data": RINGS,
    "model": {"hidden": [{"units": 10, "activation": "relu"}, {"units": 5, "activation": "relu"}]},
    "optimizer": {"name": "adam", "learning_rate": 0.01},
    "training": {"epochs": 150, "batch_size": 64, "report_every": 2, "boundary_every": 10},
}

# Deep networks trained by plain mini-batch gradient descent, where initialization
# and activation decide whether the signal survives the depth.
DEEP = {
    "data": RINGS,
    "optimizer": {"name": "gd", "learning_rate": 0.1},
    "training": {"epochs": 80, "batch_size": 32, "report_every": 1, "boundary_every": 5},
}
DEEP_SIGMOID = _merge(DEEP, {
    "seed": 4, "model": {"hidden": _layers(8, units=16, activation="sigmoid"), "init": "xavier"}})
DEEP_TANH = _merge(DEEP, {
    "seed": 12, "model": {"hidden": _layers(6, units=16, activation="tanh"), "init": "xavier"}})
DEEP_RELU = _merge(DEEP, {
    "seed": 13, "model": {"hidden": _layers(8, units=16, activation="relu"), "init": "he"}})

# One small network on moons for the mini-batch and optimizer lessons, so that
# only the update rule, the batch size or the learning rate differs between
# them; all of them run the same 40 epochs, so their curves can be laid over
# each other.  360 training and 400 dev points.
OPTIMIZATION = {
    "seed": 5,
    "data": {"dataset": "moons", "n_samples": 1000, "noise": 0.2,
             "split": {"train": 0.36, "dev": 0.4, "test": 0.24}},
    "model": {"hidden": _layers(2, units=16, activation="relu")},
    "optimizer": {"name": "gd", "learning_rate": 0.5},
    "training": {"epochs": 40, "batch_size": 64, "report_every": 1, "boundary_every": 5},
}
ITERATION_VIEW = {"chart": "iteration"}

# Batch norm's lesson: eight ReLU layers at a learning rate they only survive normalized.
BATCH_NORM = {
    "seed": 6,
    "data": {"dataset": "moons", "n_samples": 1000, "noise": 0.15,
             "split": {"train": 0.4, "dev": 0.4, "test": 0.2}},
    "model": {"hidden": _layers(8, units=16, activation="relu", batch_norm=True), "init": "he"},
    "optimizer": {"name": "gd", "learning_rate": 1.0},
    "training": {"epochs": 100, "batch_size": 32, "report_every": 1, "boundary_every": 5},
}

DIGITS = {
    "seed": 8,
    "data": {"dataset": "digits", "n_samples": 1797},
    "model": {"hidden": [{"units": 64, "activation": "relu"}]},
    "optimizer": {"name": "adam", "learning_rate": 0.005},
    "training": {"epochs": 120, "batch_size": 64, "report_every": 2, "boundary_every": 0},
}

_PRESET_LIST = [
    Preset(
        id="underfitting", title="Underfitting: high bias", topic="bias-variance",
        config={
            "seed": 1,
            "data": {"dataset": "circles", "n_samples": 600, "noise": 0.1},
            "model": {"hidden": []},
            "optimizer": {"name": "adam", "learning_rate": 0.05},
            "training": {"epochs": 150, "batch_size": 360, "report_every": 2, "boundary_every": 10},
        },
        explanation=("Logistic regression draws one straight line, and no straight line separates "
                     "a ring from its centre. The model is too simple for the data: high bias."),
        look_at=("Train and dev accuracy stay close together and both stay low, near chance. "
                 "The diagnosis panel reports high avoidable bias."),
        try_next=("Add a hidden layer of 8 ReLU units and train again: the boundary bends into a "
                  "ring and both errors drop. A bigger network is the first cure for high bias."),
        counterfactual=Counterfactual("Run it with a hidden layer", {"model": {"hidden": [{"units": 8}]}},
                                      "one hidden layer of 8 ReLUs"),
        related=("overfitting", "feature-engineering"),
    ),
    Preset(
        id="feature-engineering", title="Feature engineering: x1² and x2²", topic="bias-variance",
        config={
            "seed": 30,
            "data": {"dataset": "circles", "n_samples": 600, "noise": 0.05,
                     "features": ["x1_squared", "x2_squared"]},
            "model": {"hidden": []},
            "optimizer": {"name": "adam", "learning_rate": 0.05},
            "training": {"epochs": 100, "batch_size": 64, "report_every": 2, "boundary_every": 5},
        },
        explanation=("Still logistic regression, one straight line, but drawn in the space of x1² and "
                     "x2² instead of x1 and x2. A circle x1² + x2² = r² is a straight line there, so "
                     "the model that could not separate the ring now does, with no hidden layer."),
        look_at=("The boundary closes into a circle within a few epochs and both accuracies pass "
                 "95%. The input column of the diagram shows the two features in use."),
        try_next=("Run the twin with x1 and x2 only: accuracy falls to chance, high bias. Then "
                  "click x1 and x2 back on beside the squares: the extra inputs change little."),
        counterfactual=Counterfactual("Run it with x1 and x2 only", {"data": {"features": ["x1", "x2"]}},
                                      "features x1, x2"),
        related=("underfitting",),
    ),
    Preset(
        id="overfitting", title="Overfitting: high variance", topic="bias-variance",
        config=OVERFITTING,
        explanation=("Two layers of 64 units on 90 training points, nine of them labelled wrong: "
                     "the network has room to memorise every one. Training accuracy climbs to "
                     "nearly 100% while dev accuracy, measured on 990 points, stays about 20 "
                     "points lower."),
        look_at=("The gap between the train and dev curves opens up and stays open; the dev loss "
                 "turns back up after its early minimum. The boundary grows islands around the "
                 "mislabelled training points."),
        try_next=("Turn on L2 regularization (λ 1), dropout (keep_prob 0.5), early stopping or "
                  "augmentation, one at a time: each lesson of the next topic does one of them."),
        counterfactual=Counterfactual("Run it with L2 regularization", {"regularization": {"l2": 1.0}},
                                      "L2 λ 1"),
        related=("l2-regularization", "dropout", "early-stopping", "data-augmentation"),
    ),
    Preset(
        id="l2-regularization", title="L2 regularization fixes overfitting", topic="regularization",
        config=_merge(OVERFITTING, {"regularization": {"l2": 1.0}}),
        explanation=("The same network and data as the overfitting lesson, with the cost plus "
                     "(λ/2m)·ΣW². Large weights now cost something, so the network prefers a "
                     "smoother boundary and gives up the mislabelled points."),
        look_at=("Dev accuracy ends several points above the overfitting run's, on the same 990 "
                 "dev points, and the boundary loses its islands. The weights panel shows ‖W‖ "
                 "staying far smaller than without L2."),
        try_next=("Raise λ to 30 and watch the model underfit; lower it to 0.1 and the gap "
                  "comes back. λ trades variance for bias."),
        counterfactual=Counterfactual("Run it without L2", {"regularization": {"l2": 0.0}},
                                      "L2 λ 0"),
        related=("overfitting", "dropout"),
        view={"weights": True},
    ),
    Preset(
        id="dropout", title="Dropout fixes overfitting", topic="regularization",
        config=_merge(OVERFITTING, {
            "model": {"hidden": _layers(2, units=64, activation="relu", keep_prob=0.5)}}),
        explanation=("Inverted dropout keeps each hidden unit with probability 0.5 on every "
                     "training step (and divides by 0.5), so no unit can rely on any other: the "
                     "network cannot memorise single points."),
        look_at=("Training accuracy stays well below 100% (it is measured without dropout, like "
                 "dev) and dev accuracy ends several points above the overfitting run's. The "
                 "boundary is smoother: no islands around the mislabelled points."),
        try_next="Set keep_prob to 0.9 in one layer only, or to 0.2, and compare the gap.",
        counterfactual=Counterfactual("Run it without dropout",
                                      {"model": {"hidden": _layers(2, units=64, activation="relu")}},
                                      "keep_prob 1"),
        related=("overfitting", "l2-regularization"),
    ),
    Preset(
        id="early-stopping", title="Early stopping", topic="regularization",
        config=_merge(OVERFITTING, {"training": {
            "early_stopping": {"patience": 30, "restore_best": True}, "report_every": 1}}),
        explanation=("Keep the weights from the epoch with the lowest dev loss and stop once it has "
                     "not improved for 30 epochs. Training stops before the network has had time to "
                     "memorise the noise."),
        look_at=("The run ends with reason early_stopped, long before its 300 epochs, and reports "
                 "the best epoch: the lowest point of the dev loss curve. The dev loss it keeps is "
                 "far lower than where the overfitting run ends."),
        try_next=("Compare with L2: early stopping couples two jobs (fitting and not overfitting) "
                  "in one knob, which makes it harder to tune them separately."),
        counterfactual=Counterfactual("Run it to the end (no early stopping)",
                                      {"training": {"early_stopping": {"patience": 0}}}, "patience 0"),
        related=("overfitting", "l2-regularization"),
    ),
    Preset(
        id="data-augmentation", title="Data augmentation", topic="regularization",
        config=_merge(OVERFITTING, {"data": {"augment": {
            "enabled": True, "rotation_degrees": 0.0, "jitter": 0.15}}}),
        explanation=("Every training batch is jittered: each point moves by a little Gaussian "
                     "noise, so the network never sees exactly the same point twice and cannot "
                     "draw an island around one. Cheap extra data. Dev and test are never "
                     "augmented."),
        look_at=("Dev accuracy ends several points above the overfitting run's, and the boundary "
                 "loses most of its islands."),
        try_next=("Raise the jitter to 0.5 and watch the model start to underfit: augmentation too "
                  "can be overdone."),
        counterfactual=Counterfactual("Run it without augmentation",
                                      {"data": {"augment": {"enabled": False}}}, "no augmentation"),
        related=("overfitting",),
    ),
    Preset(
        id="mismatched-dev-test", title="Dev and test from a different distribution", topic="data",
        config={
            "seed": 9,
            "data": {"dataset": "moons", "n_samples": 2000, "noise": 0.1, "dev_noise": 0.45,
                     "split": {"train": 0.3, "train_dev": 0.2, "dev": 0.3, "test": 0.2}},
            "model": {"hidden": _layers(2, units=16, activation="relu")},
            "optimizer": {"name": "adam", "learning_rate": 0.01},
            "training": {"epochs": 150, "batch_size": 64, "report_every": 2, "boundary_every": 10},
        },
        explanation=("The training data is clean, but dev and test come from a much noisier "
                     "distribution. A train-dev set, drawn like the training data but never "
                     "trained on, tells the two gaps apart: train to train-dev is variance, "
                     "train-dev to dev is data mismatch."),
        look_at=("Training and train-dev accuracy are both near perfect, so the network "
                 "generalizes to data like its own; dev accuracy is far lower. The diagnosis "
                 "reads data mismatch: more regularization will not close this gap. Choose dev "
                 "and test sets that reflect the data you expect to get."),
        try_next="Clear 'Dev/test noise' (blank: the same distribution as train) and the gap disappears.",
        counterfactual=Counterfactual("Run it with dev and test like train", {"data": {"dev_noise": None}},
                                      "dev/test noise as train's"),
        view={"test_data": True},  # the mismatch, seen on the plane: noisy dev points over clean train
    ),
    Preset(
        id="normalizing-inputs", title="Normalizing inputs", topic="normalization",
        config=_merge(DIGITS, {
            "seed": 10,
            "data": {"normalize": {"center": False, "scale": False}},
            "model": {"hidden": [{"units": 32, "activation": "relu"}]},
            "optimizer": {"name": "gd", "learning_rate": 0.2},
            "training": {"epochs": 60, "report_every": 1},
        }),
        explanation=("Digit pixels run from 0 to 16 and are never centred, so the cost is a long, "
                     "narrow valley. At this learning rate gradient descent is thrown out of it in "
                     "the first steps and the network never recovers. Subtracting the mean and "
                     "dividing by the standard deviation makes the valley round."),
        look_at=("With raw inputs the first loss is huge (pixels up to 16 make large logits); "
                 "after one epoch it sits at ln 10 ≈ 2.3, chance for ten classes, and the "
                 "diagnosis says the network is not learning because the inputs are not "
                 "normalized. Run the twin with normalized inputs: the same rate reaches nearly "
                 "100% training accuracy."),
        try_next=("Open the normalization lab to see the two cost surfaces and gradient descent's "
                  "path on each."),
        counterfactual=Counterfactual("Run it with normalized inputs",
                                      {"data": {"normalize": {"center": True, "scale": True}}},
                                      "inputs centred and scaled"),
    ),
    Preset(
        id="init-zeros", title="Initialization: all zeros", topic="initialization",
        config=_merge(INITIALIZATION, {"model": {"init": "zeros"}}),
        explanation=("With every weight zero, every unit of a layer computes the same thing and "
                     "receives the same gradient, so they stay identical; with ReLU that gradient is "
                     "even exactly zero. The network cannot break the symmetry."),
        look_at=("Accuracy stays at chance and the gradients panel has nothing to draw: every "
                 "‖dW‖ is exactly zero. The diagnosis names the zero initialization."),
        try_next="Switch to 'he' initialization: random weights break the symmetry.",
        counterfactual=Counterfactual("Run it with He initialization", {"model": {"init": "he"}}, "init he"),
        related=("init-large-random", "init-he"),
    ),
    Preset(
        id="init-large-random", title="Initialization: large random weights", topic="initialization",
        config=_merge(INITIALIZATION, {"model": {"init": "random", "init_scale": 10.0}}),
        explanation=("Weights drawn with standard deviation 10 multiply the signal by tens at every "
                     "layer. The first predictions are confidently wrong, the cost starts in the "
                     "thousands, and training spends its time undoing the initialization."),
        look_at=("The first cost is hundreds of times ln 2 ≈ 0.69, the boundary stays crude, and "
                 "the diagnosis says the weights started far too large."),
        try_next="Set the scale to 0.01, or switch to 'he', and compare the first cost.",
        counterfactual=Counterfactual("Run it with He initialization", {"model": {"init": "he"}}, "init he"),
        related=("init-zeros", "init-he"),
    ),
    Preset(
        id="init-he", title="Initialization: He", topic="initialization",
        config=_merge(INITIALIZATION, {"model": {"init": "he"}}),
        explanation=("He initialization draws W with variance 2/n_prev, so each ReLU layer's outputs "
                     "keep roughly the variance of its inputs: symmetric, not exploding, not "
                     "vanishing."),
        look_at="The same network as the other two initialization presets separates the rings.",
        try_next="Compare the first cost and the gradient norms with the zeros and large-random presets.",
        counterfactual=Counterfactual("Run it with all-zero weights", {"model": {"init": "zeros"}},
                                      "init zeros"),
        related=("init-zeros", "init-large-random", "init-xavier"),
    ),
    Preset(
        id="init-xavier", title="Initialization: Xavier for tanh", topic="initialization",
        config=DEEP_TANH,
        explanation=("Xavier initialization draws W with variance 1/n_prev, so a tanh layer's "
                     "outputs keep the scale of its inputs: six tanh layers pass the signal "
                     "forward and the gradient back. The course's np.random.randn · 0.01 shrinks "
                     "the signal about 25-fold per layer instead (0.01 · √16)."),
        look_at=("The rings are separated within the run. Run the twin with weights of scale "
                 "0.01: the gradients panel shows the first layers' ‖dW‖ vanish and the "
                 "diagnosis says the network is not learning."),
        try_next="Try init 'he' with these tanh layers: larger than Xavier, and it still trains.",
        counterfactual=Counterfactual("Run it with small random weights",
                                      {"model": {"init": "random", "init_scale": 0.01}}, "N(0, 1) · 0.01"),
        related=("init-he", "vanishing-gradients"),
    ),
    Preset(
        id="vanishing-gradients", title="Vanishing gradients in a deep sigmoid network",
        topic="initialization",
        config=DEEP_SIGMOID,
        explanation=("Each sigmoid layer multiplies the backward signal by at most 0.25. After eight "
                     "layers the gradient reaching the first layer is orders of magnitude smaller "
                     "than the last layer's, so the early layers hardly learn."),
        look_at=("The gradients panel (log scale): the first layer's ‖dW‖ sits orders of "
                 "magnitude below the last layer's. The loss stays at ln 2, and the diagnosis "
                 "names vanishing gradients, not a lack of capacity."),
        try_next="Run the twin with ReLU and He initialization, or turn on batch norm in every layer.",
        counterfactual=Counterfactual("Run it with ReLU layers", {"model": {
            "hidden": _layers(8, units=16, activation="relu"), "init": "he"}}, "ReLU, init he"),
        related=("batch-norm", "init-xavier", "exploding-gradients"),
    ),
    Preset(
        id="exploding-gradients", title="Exploding gradients", topic="initialization",
        config=_merge(DEEP_RELU, {"model": {"init": "random", "init_scale": 1.0}}),
        explanation=("Weights of standard deviation 1 in layers of 16 ReLUs multiply the signal by "
                     "about √8 ≈ 2.8 per layer, forward and backward: after eight layers the "
                     "first cost is in the thousands and every gradient is hundreds of times too "
                     "large. The very first step of gradient descent is so large that it kills "
                     "every ReLU."),
        look_at=("The first cost is in the thousands. After one epoch every ‖dW‖ is exactly zero "
                 "(the gradients panel has nothing left to draw), the loss sits at ln 2, and the "
                 "diagnosis says the network is not learning: the steps were far too large "
                 "because the weights were."),
        try_next="Run the twin with He initialization (standard deviation √(2/16) ≈ 0.35).",
        counterfactual=Counterfactual("Run it with He initialization", {"model": {"init": "he"}}, "init he"),
        related=("vanishing-gradients", "init-he"),
    ),
    Preset(
        id="gradient-checking", title="Gradient checking (with an injected bug)",
        topic="gradient-checking",
        config={
            "seed": 11,
            "data": {"dataset": "moons", "n_samples": 100},
            "model": {"hidden": [{"units": 5, "activation": "tanh"}, {"units": 3, "activation": "tanh"}],
                      "init": "xavier"},
            "regularization": {"l2": 0.5},
            "training": {"epochs": 50, "batch_size": 60},
        },
        explanation=("Backpropagation is checked against the two-sided difference "
                     "(J(θ+ε) − J(θ−ε)) / 2ε for every parameter. A relative difference around "
                     "1e-7 means the gradients are right; around 1e-3 or more, something is wrong."),
        look_at=("Press 'Check gradients': the verdict is great. Then tick 'Break backprop' (it "
                 "injects a bug) and check again: the difference jumps by orders of magnitude."),
        try_next=("Switch the layers to ReLU and check again: should a step of ε cross a ReLU's "
                  "kink, the check leaves that parameter out and says so."),
        counterfactual=Counterfactual("Run it with ReLU layers", {"model": {
            "hidden": [{"units": 5, "activation": "relu"}, {"units": 3, "activation": "relu"}],
            "init": "he"}}, "ReLU, init he"),
    ),
    Preset(
        id="batch-gradient-descent", title="Batch gradient descent", topic="mini-batches",
        config=_merge(OPTIMIZATION, {"training": {"batch_size": 360}}),
        explanation=("One update per pass over all 360 training examples: a smooth descent, but "
                     "each update waits for the whole training set."),
        look_at=("The cost per iteration falls smoothly; after 40 epochs it has made only 40 "
                 "updates and is still far from the bottom."),
        try_next="Compare with the mini-batch preset: the same epochs, six times the updates.",
        counterfactual=Counterfactual("Run it with mini-batches of 64", {"training": {"batch_size": 64}},
                                      "batch 64"),
        related=("mini-batch-gradient-descent", "stochastic-gradient-descent"),
        view=ITERATION_VIEW,
    ),
    Preset(
        id="mini-batch-gradient-descent", title="Mini-batch gradient descent", topic="mini-batches",
        config=OPTIMIZATION,
        explanation=("Batches of 64: six updates per epoch, each on a noisy but useful estimate of "
                     "the gradient. The usual choice: fast progress and vectorized arithmetic."),
        look_at=("The cost per iteration trends down with some noise, because each batch is a "
                 "different sample; per epoch it gets much further than full-batch descent."),
        try_next="Try batch sizes 1, 32 and 360 and compare the iteration counts and the noise.",
        counterfactual=Counterfactual("Run it with full batches", {"training": {"batch_size": 360}},
                                      "batch 360"),
        related=("batch-gradient-descent", "stochastic-gradient-descent"),
        view=ITERATION_VIEW,
    ),
    Preset(
        id="stochastic-gradient-descent", title="Stochastic gradient descent", topic="mini-batches",
        config=_merge(OPTIMIZATION, {"optimizer": {"learning_rate": 0.05},
                                     "training": {"batch_size": 1}}),
        explanation=("One example per update: 360 updates per epoch, each pulled by a single point. "
                     "Within a few epochs it is further along than batch descent gets in forty, but "
                     "every single update is a noisy step, and one example at a time throws away "
                     "the speed of vectorized arithmetic."),
        look_at=("The cost per iteration jumps up and down from one example to the next, while "
                 "the per-epoch loss falls fast. Then compare its loss after one epoch (360 "
                 "updates) with the mini-batch preset's after all 40 (240 updates): one example "
                 "at a time buys little per update."),
        try_next="Add learning-rate decay to calm the noise at the end, or go back to mini-batches.",
        counterfactual=Counterfactual("Run it with mini-batches of 64", {"training": {"batch_size": 64}},
                                      "batch 64"),
        related=("batch-gradient-descent", "mini-batch-gradient-descent", "learning-rate-decay"),
        view=ITERATION_VIEW,
    ),
    Preset(
        id="momentum", title="Momentum", topic="optimizers",
        config=_merge(OPTIMIZATION, {"optimizer": {"name": "momentum", "learning_rate": 5.0, "beta": 0.9}}),
        explanation=("v = βv + (1−β)dW, then W −= αv: momentum steps along an average of the recent "
                     "gradients, so back-and-forth components cancel. That lets it use a learning "
                     "rate at which plain gradient descent overshoots: here α = 5."),
        look_at=("Training converges smoothly. Run the twin with plain gradient descent at the "
                 "same α: the first steps overshoot so far that the ReLUs die, the loss sits at "
                 "ln 2, and the diagnosis blames the learning rate."),
        try_next=("Open the optimizer lab and watch momentum roll over the saddle point that stops "
                  "gradient descent."),
        counterfactual=Counterfactual("Run it with plain gradient descent", {"optimizer": {"name": "gd"}},
                                      "gd, no momentum"),
        related=("mini-batch-gradient-descent", "rmsprop", "adam"),
    ),
    Preset(
        id="rmsprop", title="RMSprop", topic="optimizers",
        config=_merge(OPTIMIZATION, {"optimizer": {"name": "rmsprop", "learning_rate": 0.01}}),
        explanation=("s = βs + (1−β)dW², then W −= α dW / (√s + ε): each parameter's step is "
                     "divided by the recent size of its own gradient, so steep directions are damped "
                     "and flat ones sped up."),
        look_at=("With α = 0.01 the loss falls quickly. Plain gradient descent with the same α "
                 "is still far behind after 40 epochs."),
        try_next="Run the twin with gd; then try α = 0.1 with RMSprop and watch the loss jump.",
        counterfactual=Counterfactual("Run it with plain gradient descent", {"optimizer": {"name": "gd"}},
                                      "gd at the same α"),
        related=("momentum", "adam"),
    ),
    Preset(
        id="adam", title="Adam", topic="optimizers",
        config=_merge(OPTIMIZATION, {"optimizer": {"name": "adam", "learning_rate": 0.01}}),
        explanation=("Adam combines momentum's average of the gradients (β₁ = 0.9) with RMSprop's "
                     "average of their squares (β₂ = 0.999), both bias-corrected for the first "
                     "steps."),
        look_at=("A fast, steady descent with the default betas; gradient descent at α = 0.01 lags "
                 "far behind."),
        try_next="Tune only the learning rate first; the betas and ε rarely need changing.",
        counterfactual=Counterfactual("Run it with plain gradient descent", {"optimizer": {"name": "gd"}},
                                      "gd at the same α"),
        related=("momentum", "rmsprop"),
    ),
    Preset(
        id="learning-rate-decay", title="Learning-rate decay", topic="learning-rate-decay",
        config=_merge(OPTIMIZATION, {
            "optimizer": {"learning_rate": 1.0},
            "training": {"batch_size": 8},
            "schedule": {"name": "inverse_time", "decay_rate": 0.3, "time_interval": 1},
        }),
        explanation=("α = α₀ / (1 + decay_rate · epoch): big steps early, when they help most, and "
                     "small steps late, so the noise of small batches stops bouncing the weights "
                     "around the minimum."),
        look_at=("The learning-rate chart falls from 1 to below 0.1; the loss settles lower and "
                 "steadier than with a constant rate."),
        try_next="Run the twin with a constant rate and compare the end of the loss curve.",
        counterfactual=Counterfactual("Run it at a constant rate", {"schedule": {"name": "constant"}},
                                      "constant α"),
        related=("stochastic-gradient-descent",),
    ),
    Preset(
        id="batch-norm", title="Batch norm on a deep network", topic="batch-norm",
        config=BATCH_NORM,
        explanation=("Batch norm standardizes each layer's Z over the mini-batch, then rescales it "
                     "with learned γ and β. Every layer sees inputs of a stable scale, so these "
                     "eight ReLU layers train at a learning rate (α = 1) that kills them without "
                     "batch norm. At test time there is no mini-batch to average over: dev and "
                     "test are evaluated with the running averages of μ and σ² kept during "
                     "training."),
        look_at=("The moons are separated within a few epochs. Run the twin without batch "
                 "norm: its first steps overshoot, so it either diverges or its ReLUs die and the "
                 "loss sits at ln 2, and the diagnosis blames the learning rate."),
        try_next="Lower the learning rate to 0.1 and compare the two again.",
        counterfactual=Counterfactual("Run it without batch norm", {"model": {
            "hidden": _layers(8, units=16, activation="relu", batch_norm=False)}}, "no batch norm"),
        related=("vanishing-gradients",),
    ),
    Preset(
        id="digits-little-data", title="Digits with too little data", topic="bias-variance",
        config=_merge(DIGITS, {
            "data": {"split": {"train": 0.034, "dev": 0.5, "test": 0.466}},
            "training": {"batch_size": 32}}),
        explanation=("Sixty-one training images (about six per digit) for a network with thousands "
                     "of weights: it learns them by heart and generalises poorly to the 898 dev "
                     "images."),
        look_at="Training accuracy reaches 100% while dev accuracy lags far behind.",
        try_next=("Run the twin with ten times the training images: the dev accuracy climbs and "
                  "the gap shrinks."),
        counterfactual=Counterfactual("Run it with ten times the training images",
                                      {"data": {"split": {"train": 0.34, "dev": 0.5, "test": 0.16}}},
                                      "611 training images"),
        related=("overfitting",),
    ),
]

PRESETS: dict[str, Preset] = {preset.id: preset for preset in _PRESET_LIST}
