"""Bias and variance, read off the train and dev errors as the course does.

    train_error    = 1 - train_accuracy
    dev_error      = 1 - dev_accuracy
    avoidable_bias = train_error - bayes_error
    variance       = dev_error - train_error

``bayes_error`` is the best error any model could reach; the trainer passes
``data.bayes_error`` or, when unset, ``data.label_noise`` (flipped labels
cannot be predicted).

Thresholds: a gap counts as a problem when it exceeds

    tolerance = max(0.015, 0.1 * bayes_error) (+ sampling slack, see below)

1.5 percentage points is the smallest gap the course treats as worth acting
on (its example of 8% train and 10% dev error against 7.5% human error is a
variance problem; 0.5% avoidable bias is not).  On noisy problems the same
absolute gap means less, hence the part proportional to the Bayes error.
When the set sizes are known (``n_train``, ``n_dev``), one standard error of
the measured gap is added, sqrt(e (1 - e) / n), so that on a dev set of 100
examples a few unlucky predictions are not called variance.

Verdict: ``high_bias`` when only the avoidable bias exceeds its tolerance,
``high_variance`` when only the variance does, ``high_bias_and_variance`` when
both do, ``good`` when neither.  ``focus`` is what the course's basic recipe
works on first: ``"bias"`` whenever the bias is high, else ``"variance"`` when
the variance is, else None.
"""

from __future__ import annotations

import math

__all__ = ["diagnose", "MIN_TOLERANCE", "BAYES_FRACTION", "VERDICTS"]

MIN_TOLERANCE = 0.015
BAYES_FRACTION = 0.1
VERDICTS = ("high_bias", "high_variance", "high_bias_and_variance", "good")

_BIAS_ADVICE = [
    "High avoidable bias: the network does not fit even the training set as well as it could.",
    "Train a bigger network: more hidden units or more layers.",
    "Train longer, or use a better optimizer (momentum, RMSprop, Adam) or learning rate.",
    "Try another architecture or other hyperparameters.",
    "If you are regularizing strongly (large L2 or L1, low keep_prob), loosen it.",
]
_VARIANCE_ADVICE = [
    "High variance: the network does much better on the training set than on the dev set.",
    "Get more training data, or augment the data you have.",
    "Regularize: L2 or L1, dropout (lower keep_prob), or early stopping.",
    "Try another architecture or other hyperparameters.",
]
_BOTH_ADVICE = [
    "Fix the bias first: a network that cannot fit the training set gains nothing from regularization.",
]
_GOOD_ADVICE = [
    "Train and dev errors are both close to the Bayes error: neither bias nor variance stands out.",
    "Check the test set once to confirm, or make the task harder (more noise, fewer samples).",
]
_BELOW_BAYES_ADVICE = (
    "The training error is below the Bayes error: the network is memorizing the noise of "
    "its training examples, which is a form of overfitting."
)


def _fraction(name: str, value: float) -> float:
    number = float(value)
    if not (math.isfinite(number) and 0.0 <= number <= 1.0):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return number


def _standard_error(error: float, size: int | None) -> float:
    if not size:
        return 0.0
    return math.sqrt(max(error * (1.0 - error), 0.0) / size)


def diagnose(train_accuracy: float, dev_accuracy: float, bayes_error: float, *,
             n_train: int | None = None, n_dev: int | None = None) -> dict:
    """The ``diagnosis`` event payload.

    Accuracies and ``bayes_error`` are fractions in [0, 1] (``ValueError``
    otherwise).  ``n_train`` and ``n_dev``, when given, widen the tolerances by
    the sampling error of the measured errors.  Returns ``train_error``,
    ``dev_error``, ``bayes_error``, ``avoidable_bias``, ``variance``,
    ``verdict``, ``focus``, ``advice`` (list of str) and ``thresholds``
    (``{"avoidable_bias": float, "variance": float}``, the tolerances used).
    """
    train_error = 1.0 - _fraction("train_accuracy", train_accuracy)
    dev_error = 1.0 - _fraction("dev_accuracy", dev_accuracy)
    bayes_error = _fraction("bayes_error", bayes_error)
    avoidable_bias = train_error - bayes_error
    variance = dev_error - train_error

    base = max(MIN_TOLERANCE, BAYES_FRACTION * bayes_error)
    bias_tolerance = base + _standard_error(train_error, n_train)
    variance_tolerance = base + math.hypot(_standard_error(train_error, n_train),
                                           _standard_error(dev_error, n_dev))
    high_bias = avoidable_bias > bias_tolerance
    high_variance = variance > variance_tolerance

    if high_bias and high_variance:
        verdict = "high_bias_and_variance"
        advice = _BOTH_ADVICE + _BIAS_ADVICE + _VARIANCE_ADVICE[:-1]
    elif high_bias:
        verdict, advice = "high_bias", list(_BIAS_ADVICE)
    elif high_variance:
        verdict, advice = "high_variance", list(_VARIANCE_ADVICE)
    else:
        verdict, advice = "good", list(_GOOD_ADVICE)
    if avoidable_bias < -bias_tolerance:
        advice.append(_BELOW_BAYES_ADVICE)

    # The course's basic recipe: fix bias first, then variance.
    focus = "bias" if high_bias else "variance" if high_variance else None

    return {
        "train_error": train_error,
        "dev_error": dev_error,
        "bayes_error": bayes_error,
        "avoidable_bias": avoidable_bias,
        "variance": variance,
        "verdict": verdict,
        "focus": focus,
        "advice": advice,
        "thresholds": {"avoidable_bias": bias_tolerance, "variance": variance_tolerance},
    }
