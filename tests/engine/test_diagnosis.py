"""Bias/variance diagnosis on hand-picked accuracies, including the course's own examples."""

import json
import math

import pytest

from server.engine.diagnosis import VERDICTS, diagnose


@pytest.mark.parametrize("train_accuracy, dev_accuracy, bayes_error, verdict", [
    # The course's table, with human-level error about 0: 1% / 11% is high variance,
    (0.99, 0.89, 0.0, "high_variance"),
    # 15% / 16% is high bias,
    (0.85, 0.84, 0.0, "high_bias"),
    # 15% / 30% is both,
    (0.85, 0.70, 0.0, "high_bias_and_variance"),
    # 0.5% / 1% is low bias and low variance.
    (0.995, 0.99, 0.0, "good"),
    # With a Bayes error of 15%, 15% / 16% is no longer high bias.
    (0.85, 0.84, 0.15, "good"),
    # Human 7.5%, train 8%, dev 10%: focus on variance (ML strategy, avoidable bias).
    (0.92, 0.90, 0.075, "high_variance"),
    # Human 1%, train 8%, dev 10%: focus on bias.
    (0.92, 0.90, 0.01, "high_bias_and_variance"),
])
def test_verdicts_from_hand_picked_accuracies(train_accuracy, dev_accuracy, bayes_error, verdict):
    assert diagnose(train_accuracy, dev_accuracy, bayes_error)["verdict"] == verdict


def test_errors_and_gaps_follow_the_course_definitions():
    result = diagnose(0.92, 0.90, 0.01)
    assert result["train_error"] == pytest.approx(0.08)
    assert result["dev_error"] == pytest.approx(0.10)
    assert result["bayes_error"] == 0.01
    assert result["avoidable_bias"] == pytest.approx(0.07)
    assert result["variance"] == pytest.approx(0.02)
    assert result["focus"] == "bias"


def test_thresholds_are_reported_and_grow_with_the_bayes_error():
    assert diagnose(0.9, 0.9, 0.0)["thresholds"] == {"avoidable_bias": 0.015, "variance": 0.015}
    noisy = diagnose(0.7, 0.7, 0.3)["thresholds"]
    assert noisy["avoidable_bias"] == pytest.approx(0.03)
    assert noisy["variance"] == pytest.approx(0.03)


def test_a_gap_below_the_threshold_does_not_count_and_one_above_does():
    assert diagnose(0.99, 0.98, 0.0)["verdict"] == "good"  # 1% bias, 1% variance
    assert diagnose(0.99, 0.97, 0.0)["verdict"] == "high_variance"  # 2% variance
    assert diagnose(0.98, 0.98, 0.0)["verdict"] == "high_bias"  # 2% avoidable bias


def test_set_sizes_widen_the_tolerance_by_the_sampling_error():
    # On 100 dev examples a 3-point gap is within the noise; on 10,000 it is not.
    small = diagnose(0.99, 0.96, 0.0, n_train=300, n_dev=100)
    large = diagnose(0.99, 0.96, 0.0, n_train=30000, n_dev=10000)
    expected = 0.015 + math.hypot(math.sqrt(0.01 * 0.99 / 300), math.sqrt(0.04 * 0.96 / 100))
    assert small["thresholds"]["variance"] == pytest.approx(expected)
    assert small["verdict"] == "good"
    assert large["verdict"] == "high_variance"


def test_advice_follows_the_basic_recipe():
    bias = " ".join(diagnose(0.80, 0.79, 0.0)["advice"]).lower()
    assert "bigger network" in bias and "train longer" in bias
    variance = " ".join(diagnose(1.0, 0.85, 0.0)["advice"]).lower()
    assert "more training data" in variance and "regulariz" in variance and "dropout" in variance
    both = diagnose(0.80, 0.65, 0.0)["advice"]
    assert both[0].startswith("Fix the bias first")
    good = " ".join(diagnose(0.99, 0.99, 0.0)["advice"]).lower()
    assert "bigger network" not in good and "more training data" not in good


def test_training_error_below_the_bayes_error_is_called_memorizing_noise():
    result = diagnose(0.99, 0.70, 0.2)
    assert result["avoidable_bias"] == pytest.approx(-0.19)
    assert result["verdict"] == "high_variance"
    assert any("memorizing the noise" in line for line in result["advice"])
    assert not any("memorizing" in line for line in diagnose(0.80, 0.79, 0.2)["advice"])


def test_payload_is_plain_json_with_finite_numbers():
    for train, dev, bayes in ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (0.5, 0.1, 0.5)):
        result = diagnose(train, dev, bayes)
        text = json.dumps(result, allow_nan=False)
        assert json.loads(text) == result
        assert result["verdict"] in VERDICTS
        assert all(isinstance(line, str) for line in result["advice"]) and result["advice"]


@pytest.mark.parametrize("arguments, fragment", [
    ((1.2, 0.9, 0.0), "train_accuracy must be a number in [0, 1], got 1.2"),
    ((0.9, float("nan"), 0.0), "dev_accuracy must be a number in [0, 1]"),
    ((0.9, 0.9, -0.1), "bayes_error must be a number in [0, 1], got -0.1"),
])
def test_out_of_range_inputs_raise_value_errors_naming_them(arguments, fragment):
    with pytest.raises(ValueError) as error:
        diagnose(*arguments)
    assert fragment in str(error.value)
