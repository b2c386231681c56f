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
    related: tuple[str, ...] = field(default=())

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


def preset_json(preset: Preset) -> dict[str, Any]:
    """The API shape: ``{"id", "title", "config", "explanation", "look_at", "try_next", "lesson", ...}``."""
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


# A big network on a small, noisy training set: the shared starting point of the
# overfitting lessons, so each fix changes exactly one thing.  The dev set is
# kept large (90 points) so that its accuracy is not a coin toss.
OVERFITTING = {
    "seed": 3,
    "data": {"dataset": "moons", "n_samples": 300, "noise": 0.35,
             "split": {"train": 0.4, "dev": 0.3, "test": 0.3}},
    "model": {"hidden": _layers(2, units=64, activation="relu"), "init": "he"},
    "optimizer": {"name": "adam", "learning_rate": 0.02},
    "training": {"epochs": 200, "batch_size": 200, "report_every": 2, "boundary_every": 10},
}

# The course's initialization experiment: a [10, 5] ReLU network on two rings.
INITIALIZATION = {
    "seed": 2,
    "data": {"dataset": "circles", "n_samples": 400, "noise": 0.05},
    "model": {"hidden": [{"units": 10, "activation": "relu"}, {"units": 5, "activation": "relu"}]},
    "optimizer": {"name": "adam", "learning_rate": 0.01},
    "training": {"epochs": 150, "batch_size": 64, "report_every": 2, "boundary_every": 10},
}

# One small network on moons for the mini-batch and optimizer lessons, so that
# only the update rule, the batch size or the learning rate differs between them.
OPTIMIZATION = {
    "seed": 5,
    "data": {"dataset": "moons", "n_samples": 600, "noise": 0.2},
    "model": {"hidden": _layers(2, units=16, activation="relu")},
    "optimizer": {"name": "gd", "learning_rate": 0.5},
    "training": {"epochs": 60, "batch_size": 64, "report_every": 1, "boundary_every": 5},
}

DEEP_SIGMOID = {
    "seed": 4,
    "data": {"dataset": "circles", "n_samples": 400, "noise": 0.1},
    "model": {"hidden": _layers(8, units=16, activation="sigmoid"), "init": "xavier"},
    "optimizer": {"name": "gd", "learning_rate": 0.5},
    "training": {"epochs": 60, "batch_size": 64, "report_every": 1, "boundary_every": 5},
}

# Ten ReLU layers trained by plain gradient descent at a rate too large for them.
DEEP_RELU = {
    "seed": 6,
    "data": {"dataset": "circles", "n_samples": 400, "noise": 0.05},
    "model": {"hidden": _layers(10, units=16, activation="relu", batch_norm=True), "init": "he"},
    "optimizer": {"name": "gd", "learning_rate": 1.0},
    "training": {"epochs": 40, "batch_size": 32, "report_every": 1, "boundary_every": 5},
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
        related=("overfitting",),
    ),
    Preset(
        id="overfitting", title="Overfitting: high variance", topic="bias-variance",
        config=OVERFITTING,
        explanation=("Two layers of 64 units on 120 noisy training points: the network has room to "
                     "memorise the noise. Training error falls towards zero while the dev error "
                     "stops improving and then climbs."),
        look_at=("The gap between the train and dev curves opens up and keeps growing; the "
                 "boundary wraps around individual noisy points."),
        try_next=("Turn on L2 regularization (lambda 1), dropout (keep_prob 0.5), early stopping "
                  "or more data, one at a time, and compare the gap."),
        related=("l2-regularization", "dropout", "early-stopping", "data-augmentation"),
    ),
    Preset(
        id="l2-regularization", title="L2 regularization fixes overfitting", topic="regularization",
        config=_merge(OVERFITTING, {"regularization": {"l2": 1.0}}),
        explanation=("The same network and data as the overfitting lesson, with the cost plus "
                     "(lambda/2m)·ΣW². Large weights now cost something, so the network prefers a "
                     "smoother boundary."),
        look_at=("Train and dev accuracy stay close: the gap is a fraction of the overfitting "
                 "preset's. The weight norms in the gradients panel stay small."),
        try_next=("Raise lambda to 30 and watch the model underfit; lower it to 0.1 and the gap "
                  "comes back. Lambda trades variance for bias."),
        related=("overfitting", "dropout"),
    ),
    Preset(
        id="dropout", title="Dropout fixes overfitting", topic="regularization",
        config=_merge(OVERFITTING, {
            "model": {"hidden": _layers(2, units=64, activation="relu", keep_prob=0.5)}}),
        explanation=("Inverted dropout keeps each hidden unit with probability 0.5 on every "
                     "training step (and divides by 0.5), so no unit can rely on any other: the "
                     "network cannot memorise single points."),
        look_at=("The training curve is noisy, because every step trains a different thinned "
                 "network, but the train-dev gap stays small. Dev is evaluated without dropout."),
        try_next="Set keep_prob to 0.9 in one layer only, or to 0.2, and compare the gap.",
        related=("overfitting", "l2-regularization"),
    ),
    Preset(
        id="early-stopping", title="Early stopping", topic="regularization",
        config=_merge(OVERFITTING, {"training": {
            "early_stopping": {"patience": 30, "restore_best": True}}}),
        explanation=("Keep the weights from the epoch with the lowest dev loss and stop once it has "
                     "not improved for 30 epochs. Training stops before the network has had time to "
                     "memorise the noise."),
        look_at=("The run ends with reason early_stopped, well before its 200 epochs, and reports "
                 "the best epoch. The dev loss it keeps is lower than where the overfitting run "
                 "ends."),
        try_next=("Compare with L2: early stopping couples two jobs (fitting and not overfitting) "
                  "in one knob, which makes it harder to tune them separately."),
        related=("overfitting", "l2-regularization"),
    ),
    Preset(
        id="data-augmentation", title="Data augmentation", topic="regularization",
        config=_merge(OVERFITTING, {"data": {"augment": {
            "enabled": True, "rotation_degrees": 10.0, "jitter": 0.15}}}),
        explanation=("Every training batch is rotated a little and jittered, so the network never "
                     "sees exactly the same point twice: cheap extra data, and a smoother "
                     "boundary. Dev and test are never augmented."),
        look_at="The train-dev gap is much smaller than the overfitting preset's.",
        try_next="Raise the jitter until the model starts to underfit: augmentation too can be overdone.",
        related=("overfitting",),
    ),
    Preset(
        id="mismatched-dev-test", title="Dev and test from a different distribution", topic="data",
        config={
            "seed": 9,
            "data": {"dataset": "moons", "n_samples": 600, "noise": 0.1, "dev_noise": 0.45},
            "model": {"hidden": _layers(2, units=16, activation="relu")},
            "optimizer": {"name": "adam", "learning_rate": 0.01},
            "training": {"epochs": 150, "batch_size": 64, "report_every": 2, "boundary_every": 10},
        },
        explanation=("The training data is clean, but dev and test come from a much noisier "
                     "distribution. The model fits the training data well and still does poorly "
                     "where it will be used."),
        look_at=("Training accuracy is near perfect while dev accuracy is far lower. That gap is "
                 "not variance: more regularization will not close it. Choose dev and test sets "
                 "that reflect the data you expect to get."),
        try_next="Clear 'Dev/test noise' (blank: the same distribution as train) and the gap disappears.",
    ),
    Preset(
        id="normalizing-inputs", title="Normalizing inputs", topic="normalization",
        config=_merge(DIGITS, {
            "seed": 10,
            "data": {"normalize": {"center": False, "scale": False}},
            "model": {"hidden": [{"units": 32, "activation": "relu"}]},
            "optimizer": {"name": "gd", "learning_rate": 0.2},
            "training": {"epochs": 20, "report_every": 1},
        }),
        explanation=("Digit pixels run from 0 to 16 and are never centred, so the cost is a long, "
                     "narrow valley. At this learning rate gradient descent is thrown out of it in "
                     "the first steps and the network never recovers. Subtracting the mean and "
                     "dividing by the standard deviation makes the valley round."),
        look_at=("With raw inputs the loss jumps up and then sits at ln 10 ≈ 2.3: chance for ten "
                 "classes. Tick 'Center inputs' and 'Scale inputs' and run again: the same rate now "
                 "reaches nearly 100% training accuracy."),
        try_next=("Open the normalization lab to see the two cost surfaces and gradient descent's "
                  "path on each."),
    ),
    Preset(
        id="init-zeros", title="Initialization: all zeros", topic="initialization",
        config=_merge(INITIALIZATION, {"model": {"init": "zeros"}}),
        explanation=("With every weight zero, every unit of a layer computes the same thing and "
                     "receives the same gradient, so they stay identical; with ReLU that gradient is "
                     "even exactly zero. The network cannot break the symmetry."),
        look_at="Accuracy stays at chance and the gradient norms of the weights are zero.",
        try_next="Switch to 'he' initialization: random weights break the symmetry.",
        related=("init-large-random", "init-he"),
    ),
    Preset(
        id="init-large-random", title="Initialization: large random weights", topic="initialization",
        config=_merge(INITIALIZATION, {"model": {"init": "random", "init_scale": 10.0}}),
        explanation=("Weights drawn with standard deviation 10 multiply the signal by tens at every "
                     "layer. The first predictions are confidently wrong, the cost starts in the "
                     "thousands, and training spends its time undoing the initialization."),
        look_at="The first cost is thousands of times ln 2 ≈ 0.69, and the boundary stays crude.",
        try_next="Set the scale to 0.01, or switch to 'he', and compare the first cost.",
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
        related=("init-zeros", "init-large-random"),
    ),
    Preset(
        id="vanishing-gradients", title="Vanishing gradients in a deep sigmoid network",
        topic="initialization",
        config=DEEP_SIGMOID,
        explanation=("Each sigmoid layer multiplies the backward signal by at most 0.25. After eight "
                     "layers the gradient reaching the first layer is orders of magnitude smaller "
                     "than the last layer's, so the early layers hardly learn."),
        look_at=("The gradients panel (log scale): the first layer's gradient norm sits four or "
                 "five orders of magnitude below the last layer's. The loss stays at ln 2."),
        try_next="Turn on batch norm in every layer, or switch to ReLU with He initialization.",
        related=("batch-norm",),
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
        try_next=("The check runs with dropout off: add dropout and it still checks the "
                  "deterministic network."),
    ),
    Preset(
        id="batch-gradient-descent", title="Batch gradient descent", topic="mini-batches",
        config=_merge(OPTIMIZATION, {"training": {"batch_size": 360}}),
        explanation=("One update per pass over all 360 training examples: a smooth descent, but "
                     "each update waits for the whole training set."),
        look_at="A smooth loss curve; after 60 epochs it has made only 60 updates.",
        try_next="Compare with the mini-batch preset: the same epochs, six times the updates.",
        related=("mini-batch-gradient-descent", "stochastic-gradient-descent"),
    ),
    Preset(
        id="mini-batch-gradient-descent", title="Mini-batch gradient descent", topic="mini-batches",
        config=OPTIMIZATION,
        explanation=("Batches of 64: six updates per epoch, each on a noisy but useful estimate of "
                     "the gradient. The usual choice: fast progress and vectorized arithmetic."),
        look_at="The loss falls much further per epoch than full-batch descent's, with a little noise.",
        try_next="Try batch sizes 1, 32 and 360 and compare the iteration counts and the noise.",
        related=("batch-gradient-descent", "stochastic-gradient-descent"),
    ),
    Preset(
        id="stochastic-gradient-descent", title="Stochastic gradient descent", topic="mini-batches",
        config=_merge(OPTIMIZATION, {"optimizer": {"learning_rate": 0.05},
                                     "training": {"batch_size": 1, "epochs": 20}}),
        explanation=("One example per update: 360 updates per epoch, each pulled by a single point. "
                     "Within a few epochs it is further along than batch descent gets in sixty, but "
                     "every single update is a noisy step, and one example at a time throws away "
                     "the speed of vectorized arithmetic."),
        look_at=("The iteration count (360 per epoch) and how low the loss is after the first few "
                 "epochs; then compare the loss after 360 updates with the mini-batch preset's."),
        try_next="Add learning-rate decay to calm the noise at the end, or go back to mini-batches.",
        related=("batch-gradient-descent", "mini-batch-gradient-descent", "learning-rate-decay"),
    ),
    Preset(
        id="momentum", title="Momentum", topic="optimizers",
        config=_merge(OPTIMIZATION, {"optimizer": {"name": "momentum", "learning_rate": 5.0, "beta": 0.9}}),
        explanation=("v = βv + (1−β)dW, then W −= αv: momentum steps along an average of the recent "
                     "gradients, so back-and-forth components cancel. That lets it use a learning "
                     "rate at which plain gradient descent overshoots: here α = 5."),
        look_at=("Training converges smoothly. Now switch the optimizer to gd with the same α: the "
                 "first steps overshoot so far that the ReLUs die and the loss sits at ln 2."),
        try_next=("Open the optimizer lab and watch momentum roll over the saddle point that stops "
                  "gradient descent."),
        related=("mini-batch-gradient-descent", "rmsprop", "adam"),
    ),
    Preset(
        id="rmsprop", title="RMSprop", topic="optimizers",
        config=_merge(OPTIMIZATION, {"optimizer": {"name": "rmsprop", "learning_rate": 0.01}}),
        explanation=("s = βs + (1−β)dW², then W −= α dW / (√s + ε): each parameter's step is "
                     "divided by the recent size of its own gradient, so steep directions are damped "
                     "and flat ones sped up."),
        look_at=("With α = 0.01 the loss falls quickly. Plain gradient descent with the same α "
                 "is still far behind after 60 epochs."),
        try_next="Switch to gd and compare; then try α = 0.1 with RMSprop and watch the loss jump.",
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
        related=("momentum", "rmsprop"),
    ),
    Preset(
        id="learning-rate-decay", title="Learning-rate decay", topic="learning-rate-decay",
        config=_merge(OPTIMIZATION, {
            "optimizer": {"learning_rate": 1.0},
            "training": {"batch_size": 8, "epochs": 40},
            "schedule": {"name": "inverse_time", "decay_rate": 0.3, "time_interval": 1},
        }),
        explanation=("α = α₀ / (1 + decay_rate · epoch): big steps early, when they help most, and "
                     "small steps late, so the noise of small batches stops bouncing the weights "
                     "around the minimum."),
        look_at=("The learning-rate chart falls from 1 to below 0.1; the loss settles lower and "
                 "steadier than with a constant rate."),
        try_next="Set the schedule to constant and compare the end of the loss curve.",
        related=("stochastic-gradient-descent",),
    ),
    Preset(
        id="batch-norm", title="Batch norm on a deep network", topic="batch-norm",
        config=DEEP_RELU,
        explanation=("Batch norm standardizes each layer's Z over the mini-batch, then rescales it "
                     "with learned γ and β. Every layer sees inputs of a stable scale, so this "
                     "ten-layer network trains with a learning rate (α = 1) that kills it without "
                     "batch norm."),
        look_at=("The rings are separated within a few dozen epochs. Untick batch norm in the "
                 "layers and run again: the loss sits at ln 2."),
        try_next="Lower the learning rate to 0.1 and compare the two again: batch norm still trains faster.",
        related=("vanishing-gradients",),
    ),
    Preset(
        id="digits-little-data", title="Digits with too little data", topic="bias-variance",
        config=_merge(DIGITS, {
            "data": {"n_samples": 300, "split": {"train": 0.2, "dev": 0.4, "test": 0.4}},
            "training": {"batch_size": 32}}),
        explanation=("Sixty training images (six per digit) for a network with thousands of weights: "
                     "it learns them by heart and generalises poorly to the 120 dev images."),
        look_at="Training accuracy reaches 100% while dev accuracy lags far behind.",
        try_next="Raise the samples to 1797 (all the digits): the dev accuracy climbs and the gap shrinks.",
        related=("overfitting",),
    ),
]

PRESETS: dict[str, Preset] = {preset.id: preset for preset in _PRESET_LIST}
