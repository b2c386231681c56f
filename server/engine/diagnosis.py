"""Bias, variance, data mismatch and "not learning", read off the experiment as the course does.

    train_error    = 1 - train_accuracy
    dev_error      = 1 - dev_accuracy
    avoidable_bias = train_error - bayes_error
    variance       = dev_error - train_error          (no train-dev set)
    variance       = train_dev_error - train_error    (with a train-dev set)
    data_mismatch  = dev_error - train_dev_error      (with a train-dev set)

``bayes_error`` is the best error any model could reach; the trainer passes
``data.bayes_error`` or the data set's own floor.

Thresholds: a gap counts as a problem when it exceeds

    tolerance = max(0.015, 0.1 * bayes_error) + SAMPLING_SLACK standard errors

1.5 percentage points is the smallest gap the course treats as worth acting
on (its example of 8% train and 10% dev error against 7.5% human error is a
variance problem; 0.5% avoidable bias is not).  On noisy problems the same
absolute gap means less, hence the part proportional to the Bayes error.
When the set sizes are known, two standard errors of the measured gap,
sqrt(e (1 - e) / n) per set, are added: a gap the sets cannot resolve is not
called a problem (on 120 dev examples at 20% error that is 7 points).

Verdicts, in the order they are tried:

- ``not_learning``: a network with hidden layers whose training accuracy is
  at chance (1 / n_classes, give or take two standard errors) and whose loss
  has not moved below 90% of the loss of a constant guess, ln(n_classes),
  on data where the Bayes error leaves room above chance (with half the
  labels flipped, chance is the best there is).
  ``cause`` names what the setup and the curves point to, first match wins:
  ``zero_init`` (all-zero weights), ``unnormalized_inputs`` (centering or
  scaling off), ``vanishing_gradients`` (sigmoid or tanh layers and a
  first-layer ||dW|| under ``VANISHING_RATIO`` of the last layer's),
  ``learning_rate_too_large`` (the loss rose above 1.5 times its start, or
  the ReLUs died: a hidden layer's ||dW|| exactly 0, or the first layer's
  under ``VANISHING_RATIO`` of the last's, after random initialization),
  ``learning_rate_too_small`` (every update moves the weights by less than
  ``SMALL_UPDATE_RATIO`` of their norm), or None.  A network without hidden
  layers cannot be "not learning" for lack of a cause: a line that cannot
  separate the classes is high bias.  Nor can a regularized network
  without another cause: a penalty strong enough to flatten it is high
  bias, and the advice says to loosen it.
- ``data_mismatch`` (a train-dev set exists): the mismatch exceeds its
  tolerance and is at least as large as the other gaps that do.
- ``high_bias``, ``high_variance``, ``high_bias_and_variance``, ``good``: as
  the course reads the avoidable bias and the variance.

A first loss more than ``EXPLODED_START_FACTOR`` times a constant guess's
means the weights started far too large: the advice then says so and
recommends He or Xavier initialization, not a bigger network.

``focus`` is what to work on first: ``"training"`` (not learning),
``"bias"``, ``"variance"``, ``"data_mismatch"`` or None.

``settled`` is False while the curves still move: over the reports so far,
the mean train and dev errors of the last quarter (at most
``MAX_SETTLED_WINDOW`` reports) differ from the quarter before by more than
``SETTLED_CHANGE`` (plus half a standard error), or there are fewer than
``MIN_SETTLED_REPORTS`` reports.  The verdict is still
computed; the page shows "too early to tell" instead.

Advice never recommends what the config already does: with L2 on it says to
raise lambda (at ``STRONG_L2`` or above, that it is strong already, and names
the other levers), with dropout on to lower keep_prob (at ``STRONG_KEEP_PROB``
or below, the same), with augmentation on to augment more strongly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from server.engine.messages import Message

__all__ = ["diagnose", "Setup", "Progress", "progress_from_history", "MIN_TOLERANCE",
           "BAYES_FRACTION", "SAMPLING_SLACK", "VERDICTS", "CAUSES"]

MIN_TOLERANCE = 0.015
BAYES_FRACTION = 0.1
SAMPLING_SLACK = 2.0
VERDICTS = ("high_bias", "high_variance", "high_bias_and_variance", "good", "not_learning",
            "data_mismatch")
CAUSES = ("zero_init", "unnormalized_inputs", "vanishing_gradients", "learning_rate_too_large",
          "learning_rate_too_small")

CHANCE_MARGIN = 0.05
STUCK_LOSS_FRACTION = 0.9
VANISHING_RATIO = 1e-3
RISEN_LOSS_FACTOR = 1.5
EXPLODED_START_FACTOR = 10.0
SMALL_UPDATE_RATIO = 1e-4
SETTLED_CHANGE = 0.01
MIN_SETTLED_REPORTS = 8
MAX_SETTLED_WINDOW = 25
EARLY_REPORTS = 50
# A training loss that still fell by this fraction between the last two windows
# of reports has not run out of updates: more of them lower the bias first.
STILL_LEARNING_DROP = 0.02
STRONG_KEEP_PROB = 0.5
STRONG_L2 = 10.0


@dataclass(frozen=True)
class Setup:
    """What the config already does, so that advice does not recommend it again."""

    n_classes: int = 2
    activations: tuple[str, ...] = ("relu",)
    init: str = "he"
    normalized: bool = True
    optimizer: str = "adam"
    learning_rate: float = 0.01
    l2: float = 0.0
    l1: float = 0.0
    keep_prob: float = 1.0
    augment: bool = False
    early_stopping: bool = False
    batch_norm: bool = False
    batch_size: int = 64

    @classmethod
    def from_config(cls, config, n_classes: int) -> Setup:
        """From a ``RunConfig`` (the lowest keep_prob of its layers stands for its dropout)."""
        hidden = config.model.hidden
        return cls(
            n_classes=n_classes, activations=tuple(layer.activation for layer in hidden),
            init=config.model.init,
            normalized=config.data.normalize.center and config.data.normalize.scale,
            optimizer=config.optimizer.name, learning_rate=config.optimizer.learning_rate,
            l2=config.regularization.l2, l1=config.regularization.l1,
            keep_prob=min((layer.keep_prob for layer in hidden), default=1.0),
            augment=config.data.augment.enabled,
            early_stopping=config.training.early_stopping.patience > 0,
            batch_norm=any(layer.batch_norm for layer in hidden),
            batch_size=config.training.batch_size)


@dataclass(frozen=True)
class Progress:
    """What the curves show so far, oldest first.

    ``train_losses``, ``train_errors``, ``dev_errors`` and ``train_dev_errors``
    (empty without a train-dev set) are the latest reports' (all of them, or
    the last ``2 * MAX_SETTLED_WINDOW``), and may hold None for diverged
    values.  ``start_loss`` is the untrained network's loss and ``peak_loss``
    the highest of the early and latest reports (when None: the first and the
    highest of ``train_losses``); ``n_reports`` how many reports there were
    (when None: as many as ``train_errors``).  ``grad_norms`` and
    ``update_ratios`` are the latest report's, per weight layer from the input
    (None where nothing was computed).  ``stopped_early``: early stopping has
    ended training, so the curves will not move again.
    """

    train_losses: tuple[float | None, ...] = ()
    train_errors: tuple[float | None, ...] = ()
    dev_errors: tuple[float | None, ...] = ()
    train_dev_errors: tuple[float | None, ...] = ()
    grad_norms: tuple[float | None, ...] = ()
    update_ratios: tuple[float | None, ...] = field(default=())
    stopped_early: bool = False
    start_loss: float | None = None
    peak_loss: float | None = None
    n_reports: int | None = None

    def first_loss(self) -> float | None:
        if self.start_loss is not None:
            return self.start_loss
        return next((loss for loss in self.train_losses if loss is not None), None)

    def highest_loss(self) -> float | None:
        if self.peak_loss is not None:
            return self.peak_loss
        return max((loss for loss in self.train_losses if loss is not None), default=None)

    def reports(self) -> int:
        return len(self.train_errors) if self.n_reports is None else self.n_reports


def progress_from_history(history: Sequence[dict], stopped_early: bool = False) -> Progress:
    """A ``Progress`` from the trainer's ``metrics`` payloads so far.

    Reads a bounded number of them (the early and the latest reports), so that a
    diagnosis costs the same at epoch 10 and at epoch 10,000.
    """
    recent = history[-2 * MAX_SETTLED_WINDOW:]

    def errors(key: str) -> tuple[float | None, ...]:
        return tuple(None if m.get(key) is None else 1.0 - m[key] for m in recent)

    # A learning rate too large shows within the first steps: the early reports hold its peak.
    watched = [m.get("train_loss") for m in history[:EARLY_REPORTS]] + [m.get("train_loss") for m in recent]
    latest = history[-1]["layers"] if history else []
    has_train_dev = any(m.get("train_dev_accuracy") is not None for m in recent)
    return Progress(
        train_losses=tuple(m.get("train_loss") for m in recent),
        train_errors=errors("train_accuracy"), dev_errors=errors("dev_accuracy"),
        train_dev_errors=errors("train_dev_accuracy") if has_train_dev else (),
        grad_norms=tuple(layer.get("grad_norm") for layer in latest),
        update_ratios=tuple(layer.get("update_ratio") for layer in latest), stopped_early=stopped_early,
        start_loss=history[0].get("train_loss") if history else None,
        peak_loss=max((loss for loss in watched if loss is not None), default=None),
        n_reports=len(history))


def _fraction(name: str, value: float) -> float:
    number = float(value)
    if not (math.isfinite(number) and 0.0 <= number <= 1.0):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return number


def _standard_error(error: float, size: int | None) -> float:
    if not size:
        return 0.0
    return math.sqrt(max(error * (1.0 - error), 0.0) / size)


def _gap_tolerance(base: float, *errors_and_sizes: tuple[float, int | None]) -> float:
    spread = math.hypot(*(_standard_error(error, size) for error, size in errors_and_sizes))
    return base + SAMPLING_SLACK * spread


# --- settledness -----------------------------------------------------------------------------

def _window_change(series: Sequence[float | None], reports: int) -> float | None:
    """|mean of the last quarter - mean of the quarter before| (a quarter of ``reports``, at most
    ``MAX_SETTLED_WINDOW``), None when too short or missing."""
    values = [value for value in series if value is not None]
    if reports < MIN_SETTLED_REPORTS or len(values) < len(series):
        return None
    width = max(2, min(reports // 4, MAX_SETTLED_WINDOW, len(values) // 2))
    last, before = values[-width:], values[-2 * width:-width]
    return abs(sum(last) / width - sum(before) / width)


def _settled(progress: Progress | None, sizes: dict[str, int | None]) -> bool:
    if progress is None or progress.stopped_early:
        return True
    for name, series in (("train", progress.train_errors), ("dev", progress.dev_errors),
                         ("train_dev", progress.train_dev_errors)):
        if name == "train_dev" and not series:
            continue
        change = _window_change(series, progress.reports())
        latest = series[-1] if series else None
        if change is None or latest is None:
            return False
        if change > SETTLED_CHANGE + 0.5 * _standard_error(latest, sizes.get(name)):
            return False
    return True


# --- not learning ------------------------------------------------------------------------------

def _regularizes(setup: Setup) -> bool:
    return setup.l2 > 0 or setup.l1 > 0 or setup.keep_prob < 1


def _stuck(train_accuracy: float, bayes_error: float, n_train: int | None, setup: Setup,
           progress: Progress | None) -> bool:
    """Chance-level training accuracy and a loss that has not left a constant guess's, on data
    where the best possible model does better than chance."""
    chance = 1.0 / setup.n_classes
    margin = max(CHANCE_MARGIN, SAMPLING_SLACK * _standard_error(chance, n_train))
    if train_accuracy > chance + margin or 1.0 - bayes_error <= chance + margin:
        return False
    losses = [] if progress is None else [loss for loss in progress.train_losses if loss is not None]
    return not losses or losses[-1] >= STUCK_LOSS_FRACTION * math.log(setup.n_classes)


def _gradients_vanished(progress: Progress) -> bool:
    norms = progress.grad_norms
    if len(norms) < 2 or norms[0] is None or not norms[-1]:
        return False
    return norms[0] < VANISHING_RATIO * norms[-1]


def _cause(setup: Setup, progress: Progress | None) -> str | None:
    """The likeliest reason a network does not learn (module docstring), or None."""
    progress = progress or Progress()
    start, peak = progress.first_loss(), progress.highest_loss()
    norms = [norm for norm in progress.grad_norms if norm is not None]
    ratios = [ratio for ratio in progress.update_ratios if ratio is not None]
    if setup.init == "zeros":
        return "zero_init"
    if not setup.normalized:
        return "unnormalized_inputs"
    if set(setup.activations) & {"sigmoid", "tanh"} and _gradients_vanished(progress):
        return "vanishing_gradients"
    if start is not None and peak > RISEN_LOSS_FACTOR * start:
        return "learning_rate_too_large"
    dead_units = bool(set(setup.activations) & {"relu", "leaky_relu"}) and (
        _gradients_vanished(progress) or 0.0 in progress.grad_norms[:-1])
    if dead_units or (norms and not any(norms)):
        return "learning_rate_too_large"
    if ratios and max(ratios) < SMALL_UPDATE_RATIO:
        return "learning_rate_too_small"
    return None


_NOT_LEARNING_HEAD = Message(
    "Not learning: training accuracy is at chance and the loss has not moved "
    "from a constant guess's. No amount of data, regularization or network size "
    "helps a network that does not train.")
_CAUSE_ADVICE = {
    "zero_init": [
        Message("The weights start at zero, so every unit of a layer computes the same thing and gets the "
                "same gradient (with ReLU or tanh exactly zero): the symmetry is never broken."),
        Message("Initialize the weights randomly: He for ReLU, Xavier for tanh."),
    ],
    "unnormalized_inputs": [
        Message("The inputs are not normalized: features on large, uneven scales make the cost a long, "
                "narrow valley that gradient descent is thrown out of."),
        Message("Center and scale the inputs (subtract the training mean, divide by the standard "
                "deviation); the same learning rate then trains."),
    ],
    "vanishing_gradients": [
        Message("Vanishing gradients: the first layer's gradient is under a thousandth of the last "
                "layer's, because every sigmoid or tanh layer shrinks the backward signal."),
        Message("Use ReLU with He initialization, turn on batch norm, or use fewer layers."),
    ],
    "learning_rate_too_large": [
        Message("The learning rate is too large: the first steps overshoot, the loss rose above its start "
                "or every gradient is now exactly zero (dead ReLUs)."),
    ],
    "learning_rate_too_small": [
        Message("The learning rate is too small: each update changes the weights by less than 0.01% of "
                "their size."),
    ],
    None: [
        Message("Check the learning rate (try ten times smaller and ten times larger) and the "
                "initialization (He for ReLU, Xavier for tanh)."),
    ],
}


def _exploded_start_advice(setup: Setup, progress: Progress | None) -> Message | None:
    """Words for a first loss far above a constant guess's (weights initialized far too large)."""
    start = progress.first_loss() if progress else None
    guess = math.log(setup.n_classes)
    if start is None or start <= EXPLODED_START_FACTOR * guess:
        return None
    return Message("The loss started at {start}, {ratio} times a constant guess's: the "
                   "initial weights are far too large, so activations and gradients explode layer by "
                   "layer. Initialize with He (ReLU) or Xavier (tanh) weights.",
                   start=format(start, ".3g"), ratio=format(start / guess, ".0f"))


def _not_learning_advice(cause: str | None, setup: Setup, progress: Progress | None) -> list[Message]:
    rate = setup.learning_rate
    lines = list(_CAUSE_ADVICE[cause])
    if cause == "learning_rate_too_large":
        lines.append(Message("Lower the learning rate α ({lower} is a tenth of it) and train again.",
                             lower=format(rate / 10, "g")))
    if cause == "learning_rate_too_small":
        lines.append(Message("Raise the learning rate α (try {higher}).", higher=format(rate * 10, "g")))
    if cause == "learning_rate_too_small" and setup.optimizer == "gd":
        lines.append(Message("Or use Adam, which scales each step to the size of its gradients."))
    exploded = _exploded_start_advice(setup, progress)
    if exploded and cause in ("learning_rate_too_large", None):
        lines.append(exploded)
    return [_NOT_LEARNING_HEAD, *lines]


# --- bias, variance and mismatch advice ---------------------------------------------------------

def _training_loss_drop(progress: Progress | None) -> float | None:
    """The relative fall of the training loss between the last two windows of reports
    (sized as for settledness), None when there are too few reports to tell."""
    if progress is None:
        return None
    losses = [loss for loss in progress.train_losses if loss is not None]
    reports = progress.reports()
    if reports < MIN_SETTLED_REPORTS or len(losses) < 4:
        return None
    width = max(2, min(reports // 4, MAX_SETTLED_WINDOW, len(losses) // 2))
    before = sum(losses[-2 * width:-width]) / width
    last = sum(losses[-width:]) / width
    return (before - last) / before if before > 0 else None


def _bias_advice(setup: Setup, progress: Progress | None) -> list[Message]:
    advice = [Message("High avoidable bias: the network does not fit even the training set as well as "
                      "it could.")]
    # Weights that start far too large are the problem to fix, not the network's size.
    exploded = _exploded_start_advice(setup, progress)
    drop = _training_loss_drop(progress)
    if setup.optimizer == "adam":
        train_longer = Message("Train longer, or tune the learning rate.")
    else:
        train_longer = Message(
            "Train longer, or use a better optimizer (momentum, RMSprop, Adam) or learning rate.")
    if exploded:
        advice += [exploded, train_longer]
    elif drop is not None and drop > STILL_LEARNING_DROP and not (progress and progress.stopped_early):
        # The accuracy may have levelled off while the loss still falls: the network has not
        # had enough updates yet, and a bigger one would only need more of them.
        advice.append(Message("Still learning: the training loss fell {percent}% over the latest reports. "
                              "Train longer before you change the network.",
                              percent=format(100 * drop, ".0f")))
        if setup.batch_size > 1:
            advice.append(Message("Take more updates per epoch: smaller mini-batches."))
        if setup.optimizer != "adam":
            advice.append(Message("Use a faster optimizer: momentum, RMSprop or Adam."))
        advice.append(Message("If the loss levels off and the bias stays, train a bigger network: "
                              "more hidden units or more layers."))
    else:
        advice += [Message("Train a bigger network: more hidden units or more layers."), train_longer]
    return advice + _loosen_advice(setup)


def _loosen_advice(setup: Setup) -> list[Message]:
    # Names and values, the same in every language.
    regularizers = [text for text, active in (
        (f"L2 λ {setup.l2:g}", setup.l2 > 0), (f"L1 λ {setup.l1:g}", setup.l1 > 0),
        (f"keep_prob {setup.keep_prob:g}", setup.keep_prob < 1), ("augmentation", setup.augment))
        if active]
    if regularizers:
        return [Message("You are regularizing ({regularizers}): loosen it.",
                        regularizers=", ".join(regularizers))]
    return []


def _data_advice(setup: Setup) -> Message:
    if setup.augment:
        return Message("Augmentation is already on: augment more strongly, or get more training data.")
    return Message("Get more training data, or augment the data you have.")


def _regularization_advice(setup: Setup) -> Message:
    if setup.l2 >= STRONG_L2:
        levers = []
    else:
        levers = [Message("raise L2's λ above {l2}", l2=format(setup.l2, "g")) if setup.l2 > 0
                  else Message("add L2 regularization")]
    if setup.keep_prob >= 1:
        levers.append(Message("add dropout (keep_prob 0.5 to 0.8)"))
    elif setup.keep_prob > STRONG_KEEP_PROB:
        levers.append(Message("lower keep_prob below {keep_prob}", keep_prob=format(setup.keep_prob, "g")))
    if not setup.early_stopping:
        levers.append(Message("stop early"))
    notes = []
    if setup.l2 >= STRONG_L2:
        notes.append(Message("L2 is already strong (λ {l2}): raise it no further.", l2=format(setup.l2, "g")))
    if setup.keep_prob <= STRONG_KEEP_PROB:
        notes.append(Message("Dropout is already strong (keep_prob {keep_prob}): lower it no further.",
                             keep_prob=format(setup.keep_prob, "g")))
    if not levers:
        return _sentences([*notes, Message("More training data is the lever left.")])
    return _sentences([Message("Regularize more: {levers}.", levers=levers), *notes])


def _sentences(messages: list[Message]) -> Message:
    """One advice line of several sentences."""
    joined = messages[0]
    for message in messages[1:]:
        joined = Message("{first} {second}", first=joined, second=message)
    return joined


def _variance_advice(setup: Setup) -> list[Message]:
    return [
        Message("High variance: the network does much better on the training set than on data it has "
                "not seen."),
        _data_advice(setup),
        _regularization_advice(setup),
        Message("Try another architecture or other hyperparameters."),
    ]


_MISMATCH_ADVICE = [
    Message("Data mismatch: the dev error is well above the train-dev error, so the dev data differs from "
            "the training distribution. This gap is not variance: regularization will not close it."),
    Message("Look at the dev examples the network gets wrong and how they differ from the training data."),
    Message("Make the training data more like dev and test (collect or synthesize such examples), or "
            "choose dev and test sets that reflect the data you expect to get."),
]
_GOOD_ADVICE = [
    Message("Train and dev errors are both close to the Bayes error: neither bias nor variance stands out."),
    Message("Check the test set once to confirm, or make the task harder (more noise, fewer samples)."),
]
_BOTH_FIRST = Message("Fix the bias first: a network that cannot fit the training set gains nothing from "
                      "regularization.")
_BELOW_BAYES_ADVICE = Message(
    "The training error is below the Bayes error: the network is memorizing the noise of "
    "its training examples, which is a form of overfitting."
)
_TOO_EARLY = Message("The curves are still moving: wait until they settle before acting on this.")


def _verdict(gaps: dict[str, float], over: dict[str, bool], setup: Setup,
             progress: Progress | None) -> tuple[str, str | None, list[Message]]:
    """(verdict, focus, advice) from the bias, variance and mismatch gaps and which exceed tolerance."""
    if over["data_mismatch"] and all(gaps["data_mismatch"] >= gaps[name]
                                     for name in ("avoidable_bias", "variance") if over[name]):
        return "data_mismatch", "data_mismatch", list(_MISMATCH_ADVICE)
    if over["avoidable_bias"] and over["variance"]:
        variance = _variance_advice(setup)
        return "high_bias_and_variance", "bias", [_BOTH_FIRST, *_bias_advice(setup, progress),
                                                  *variance[1:3]]
    if over["avoidable_bias"]:
        return "high_bias", "bias", _bias_advice(setup, progress)
    if over["variance"]:
        return "high_variance", "variance", _variance_advice(setup)
    return "good", None, list(_GOOD_ADVICE)


def diagnose(train_accuracy: float, dev_accuracy: float, bayes_error: float, *,
             n_train: int | None = None, n_dev: int | None = None,
             train_dev_accuracy: float | None = None, n_train_dev: int | None = None,
             setup: Setup | None = None, progress: Progress | None = None) -> dict:
    """The ``diagnosis`` event payload (module docstring).

    Accuracies and ``bayes_error`` are fractions in [0, 1] (``ValueError``
    otherwise).  Set sizes widen the tolerances by the sampling error.
    Returns ``train_error``, ``dev_error``, ``train_dev_error`` and
    ``data_mismatch`` (None without a train-dev set), ``bayes_error``,
    ``avoidable_bias``, ``variance``, ``verdict``, ``cause``, ``focus``,
    ``settled``, ``advice`` (list of str), ``advice_messages`` (the same advice as
    ``{"id", "params"}`` for translation: ``server.engine.messages``) and ``thresholds``.
    """
    setup = setup or Setup()
    train_error = 1.0 - _fraction("train_accuracy", train_accuracy)
    dev_error = 1.0 - _fraction("dev_accuracy", dev_accuracy)
    bayes_error = _fraction("bayes_error", bayes_error)
    has_train_dev = train_dev_accuracy is not None
    train_dev_error = 1.0 - _fraction("train_dev_accuracy", train_dev_accuracy) if has_train_dev else None
    unseen_error, n_unseen = (train_dev_error, n_train_dev) if has_train_dev else (dev_error, n_dev)

    base = max(MIN_TOLERANCE, BAYES_FRACTION * bayes_error)
    gaps = {"avoidable_bias": train_error - bayes_error, "variance": unseen_error - train_error,
            "data_mismatch": dev_error - train_dev_error if has_train_dev else 0.0}
    thresholds = {
        "avoidable_bias": _gap_tolerance(base, (train_error, n_train)),
        "variance": _gap_tolerance(base, (train_error, n_train), (unseen_error, n_unseen)),
        "data_mismatch": _gap_tolerance(base, (train_dev_error, n_train_dev), (dev_error, n_dev))
        if has_train_dev else None,
    }
    over = {name: thresholds[name] is not None and gaps[name] > thresholds[name] for name in gaps}

    cause = _cause(setup, progress) if setup.activations else None
    stuck = bool(setup.activations) and _stuck(1.0 - train_error, bayes_error, n_train, setup, progress)
    if stuck and not (cause is None and _regularizes(setup)):
        verdict, focus = "not_learning", "training"
        advice = _not_learning_advice(cause, setup, progress)
    else:
        cause = None
        verdict, focus, advice = _verdict(gaps, over, setup, progress)
        if gaps["avoidable_bias"] < -thresholds["avoidable_bias"]:
            advice.append(_BELOW_BAYES_ADVICE)
    settled = _settled(progress, {"train": n_train, "dev": n_dev, "train_dev": n_train_dev})
    if not settled:
        advice.insert(0, _TOO_EARLY)

    return {
        "train_error": train_error, "dev_error": dev_error, "train_dev_error": train_dev_error,
        "bayes_error": bayes_error, "avoidable_bias": gaps["avoidable_bias"],
        "variance": gaps["variance"], "data_mismatch": gaps["data_mismatch"] if has_train_dev else None,
        "verdict": verdict, "cause": cause, "focus": focus, "settled": settled,
        "advice": [str(message) for message in advice],
        "advice_messages": [message.json() for message in advice],
        "thresholds": thresholds,
    }
