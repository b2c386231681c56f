"""Bias/variance diagnosis on hand-picked accuracies, including the course's own examples."""

import json
import math

import pytest

from server.engine import train
from server.engine.diagnosis import (
    MAX_SETTLED_WINDOW,
    VERDICTS,
    Progress,
    Setup,
    diagnose,
    progress_from_history,
)


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
    assert diagnose(0.9, 0.9, 0.0)["thresholds"] == {"avoidable_bias": 0.015, "variance": 0.015,
                                                     "data_mismatch": None}
    noisy = diagnose(0.7, 0.7, 0.3)["thresholds"]
    assert noisy["avoidable_bias"] == pytest.approx(0.03)
    assert noisy["variance"] == pytest.approx(0.03)


def test_a_gap_below_the_threshold_does_not_count_and_one_above_does():
    assert diagnose(0.99, 0.98, 0.0)["verdict"] == "good"  # 1% bias, 1% variance
    assert diagnose(0.99, 0.97, 0.0)["verdict"] == "high_variance"  # 2% variance
    assert diagnose(0.98, 0.98, 0.0)["verdict"] == "high_bias"  # 2% avoidable bias


def test_set_sizes_widen_the_tolerance_by_two_standard_errors():
    # On 100 dev examples a 3-point gap is within the noise; on 10,000 it is not.
    small = diagnose(0.99, 0.96, 0.0, n_train=300, n_dev=100)
    large = diagnose(0.99, 0.96, 0.0, n_train=30000, n_dev=10000)
    expected = 0.015 + 2 * math.hypot(math.sqrt(0.01 * 0.99 / 300), math.sqrt(0.04 * 0.96 / 100))
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
    for train_accuracy, dev, bayes in ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (0.5, 0.1, 0.5)):
        result = diagnose(train_accuracy, dev, bayes)
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


# --- not learning --------------------------------------------------------------------------------

LN2 = math.log(2)


def flat_progress(loss=LN2, error=0.5, reports=20, grad_norms=(0.1, 0.1), update_ratios=(1e-2, 1e-2),
                  first_loss=None):
    losses = [first_loss if first_loss is not None else loss] + [loss] * (reports - 1)
    return Progress(train_losses=tuple(losses), train_errors=(error,) * reports,
                    dev_errors=(error,) * reports, grad_norms=grad_norms, update_ratios=update_ratios)


@pytest.mark.parametrize("setup, progress, cause", [
    (Setup(init="zeros"), flat_progress(grad_norms=(0.0, 0.0)), "zero_init"),
    (Setup(normalized=False, n_classes=10), flat_progress(loss=math.log(10), error=0.9),
     "unnormalized_inputs"),
    (Setup(activations=("sigmoid",) * 8, init="xavier"), flat_progress(grad_norms=(1e-7,) * 7 + (0.05,) * 2),
     "vanishing_gradients"),
    (Setup(optimizer="gd", learning_rate=5.0), flat_progress(first_loss=0.7, loss=LN2, grad_norms=(0.0, 0.0)),
     "learning_rate_too_large"),
    (Setup(optimizer="gd", learning_rate=5.0), flat_progress(first_loss=0.4), "learning_rate_too_large"),
    # Dead ReLUs: the first layers get no gradient at all, and so the updates are tiny too.
    (Setup(activations=("relu",) * 6, optimizer="gd", learning_rate=1.0),
     flat_progress(grad_norms=(0.0, 0.0, 1e-6, 2e-3), update_ratios=(0.0, 0.0, 1e-8, 1e-6)),
     "learning_rate_too_large"),
    (Setup(optimizer="gd", learning_rate=1e-5), flat_progress(update_ratios=(1e-6, 2e-6)),
     "learning_rate_too_small"),
    (Setup(), flat_progress(), None),
])
def test_a_network_stuck_at_chance_is_not_learning_and_the_cause_is_named(setup, progress, cause):
    train_accuracy = 1.0 / setup.n_classes
    result = diagnose(train_accuracy, train_accuracy, 0.05, n_train=360, n_dev=120, setup=setup,
                      progress=progress)
    assert result["verdict"] == "not_learning"
    assert result["cause"] == cause
    assert result["focus"] == "training"
    advice = " ".join(result["advice"]).lower()
    # Never the opposite of the fix: a bigger network, more data or regularization.
    for wrong in ("bigger network", "more training data", "regulariz", "variance:"):
        assert wrong not in advice.replace("no amount of data, regularization", "")
    assert result["settled"]


@pytest.mark.parametrize("cause, fix", [
    ("zero_init", "initialize the weights randomly"), ("unnormalized_inputs", "center and scale"),
    ("vanishing_gradients", "relu with he initialization"), ("learning_rate_too_large", "0.5 is a tenth"),
    ("learning_rate_too_small", "try 5e-05"),
])
def test_each_cause_advises_its_own_fix(cause, fix):
    setups = {"zero_init": Setup(init="zeros"), "unnormalized_inputs": Setup(normalized=False),
              "vanishing_gradients": Setup(activations=("tanh",) * 6)}
    progresses = {"vanishing_gradients": flat_progress(grad_norms=(1e-8, 1e-2)),
                  "learning_rate_too_large": flat_progress(first_loss=0.3),
                  "learning_rate_too_small": flat_progress(update_ratios=(1e-7, 1e-7))}
    rates = {"learning_rate_too_large": 5.0, "learning_rate_too_small": 5e-6}
    setup = setups.get(cause, Setup(optimizer="gd", learning_rate=rates.get(cause, 0.01)))
    result = diagnose(0.5, 0.5, 0.0, setup=setup, progress=progresses.get(cause, flat_progress()))
    assert result["cause"] == cause
    assert fix in " ".join(result["advice"]).lower()


def test_a_linear_model_at_chance_is_high_bias_not_a_failure_to_train():
    # Logistic regression on rings: no line does better, the cure is a bigger model.
    result = diagnose(0.5, 0.5, 0.05, setup=Setup(activations=()), progress=flat_progress())
    assert result["verdict"] == "high_bias" and result["cause"] is None
    assert "bigger network" in " ".join(result["advice"]).lower()


def test_chance_is_not_a_failure_to_train_when_it_is_the_best_there_is():
    # Half the labels flipped: no model beats chance, so the network is doing all it can.
    result = diagnose(0.5, 0.5, 0.5, n_train=360, setup=Setup(), progress=flat_progress())
    assert result["verdict"] == "good" and result["cause"] is None


def test_learning_is_not_called_not_learning():
    learnt = diagnose(0.9, 0.88, 0.05, setup=Setup(), progress=flat_progress(loss=0.3, error=0.1))
    assert learnt["verdict"] != "not_learning" and learnt["cause"] is None
    # At chance on accuracy but with the loss well below a constant guess's: still moving.
    loss_fell = diagnose(0.52, 0.5, 0.0, n_train=360, setup=Setup(), progress=flat_progress(loss=0.4))
    assert loss_fell["verdict"] != "not_learning"


# --- data mismatch -------------------------------------------------------------------------------

def test_dev_error_above_train_dev_error_is_data_mismatch_not_variance():
    result = diagnose(0.99, 0.80, 0.0, n_train=360, n_dev=1000, train_dev_accuracy=0.98, n_train_dev=1000)
    assert result["verdict"] == "data_mismatch" and result["focus"] == "data_mismatch"
    assert result["train_dev_error"] == pytest.approx(0.02)
    assert result["variance"] == pytest.approx(0.01)
    assert result["data_mismatch"] == pytest.approx(0.18)
    advice = " ".join(result["advice"]).lower()
    assert "not variance" in advice and "add dropout" not in advice and "bigger network" not in advice


def test_with_a_train_dev_set_variance_is_train_dev_minus_train():
    result = diagnose(1.0, 0.80, 0.0, n_train=360, n_dev=1000, train_dev_accuracy=0.81, n_train_dev=1000)
    assert result["variance"] == pytest.approx(0.19)
    assert result["data_mismatch"] == pytest.approx(0.01)
    assert result["verdict"] == "high_variance"


def test_a_mismatch_the_sets_cannot_resolve_is_not_called_one():
    # 5 points on 100 examples each is within two standard errors.
    result = diagnose(0.95, 0.90, 0.05, n_train=300, n_dev=100, train_dev_accuracy=0.95, n_train_dev=100)
    assert result["verdict"] == "good"
    assert result["thresholds"]["data_mismatch"] > 0.05


def test_without_a_train_dev_set_the_mismatch_fields_are_null():
    result = diagnose(0.9, 0.9, 0.1)
    assert result["train_dev_error"] is None and result["data_mismatch"] is None


# --- the first run, settling, advice that knows the config --------------------------------------

def test_dev_noise_on_a_small_dev_set_is_not_called_overfitting():
    # The default first run: 83.1% train on 360, 76.7% dev on 120, Bayes error 16%.
    result = diagnose(0.831, 0.767, 0.16, n_train=360, n_dev=120)
    assert result["verdict"] == "good"
    # The same gap measured on ten times the examples is variance.
    assert diagnose(0.831, 0.767, 0.16, n_train=3600, n_dev=1200)["verdict"] == "high_variance"


def test_curves_still_moving_are_not_settled():
    falling = tuple(0.5 - 0.02 * index for index in range(20))
    moving = Progress(train_losses=(0.7,) * 20, train_errors=falling, dev_errors=falling)
    result = diagnose(0.9, 0.88, 0.0, setup=Setup(), progress=moving)
    assert result["settled"] is False
    assert result["verdict"] in VERDICTS
    assert "still moving" in result["advice"][0]
    flat = Progress(train_losses=(0.3,) * 20, train_errors=falling[:10] + (0.1,) * 10,
                    dev_errors=falling[:10] + (0.12,) * 10)
    assert diagnose(0.9, 0.88, 0.0, progress=flat)["settled"] is True
    few = Progress(train_losses=(0.3,) * 4, train_errors=(0.1,) * 4, dev_errors=(0.1,) * 4)
    assert diagnose(0.9, 0.88, 0.0, progress=few)["settled"] is False
    # Without curves (a one-off call) there is nothing to wait for.
    assert diagnose(0.9, 0.88, 0.0)["settled"] is True


def advice_for(setup):
    return " ".join(diagnose(1.0, 0.8, 0.0, n_train=100, n_dev=1000, setup=setup)["advice"])


def test_variance_advice_never_recommends_what_the_config_already_does():
    plain = advice_for(Setup())
    assert "add L2 regularization" in plain and "add dropout" in plain and "augment the data" in plain
    augmented = advice_for(Setup(augment=True))
    assert "already on: augment more strongly" in augmented and "augment the data you have" not in augmented
    with_l2 = advice_for(Setup(l2=1.0))
    assert "raise L2's λ above 1" in with_l2 and "add L2" not in with_l2
    light_dropout = advice_for(Setup(keep_prob=0.8))
    assert "lower keep_prob below 0.8" in light_dropout and "add dropout" not in light_dropout
    strong_dropout = advice_for(Setup(keep_prob=0.5))
    assert "already strong (keep_prob 0.5)" in strong_dropout
    assert "lower keep_prob below" not in strong_dropout
    stopping = advice_for(Setup(early_stopping=True))
    assert "stop early" not in stopping
    strong_l2 = advice_for(Setup(l2=30.0))
    assert "L2 is already strong (λ 30)" in strong_l2 and "raise L2" not in strong_l2
    assert "add dropout" in strong_l2
    everything = advice_for(Setup(l2=30.0, keep_prob=0.3, early_stopping=True, augment=True))
    assert "Regularize more" not in everything and "More training data is the lever left" in everything


def test_bias_advice_loosens_only_the_regularization_in_use():
    def bias_advice(setup):
        return " ".join(diagnose(0.7, 0.7, 0.0, setup=setup)["advice"])
    assert "loosen" not in bias_advice(Setup())
    assert "(L2 λ 3, keep_prob 0.5): loosen it" in bias_advice(Setup(l2=3.0, keep_prob=0.5))
    assert "momentum, RMSprop, Adam" not in bias_advice(Setup(optimizer="adam"))
    assert "momentum, RMSprop, Adam" in bias_advice(Setup(optimizer="gd"))


def test_progress_is_read_from_the_metrics_history():
    history = [{"train_loss": 0.69, "train_accuracy": 0.5, "dev_accuracy": 0.4, "train_dev_accuracy": None,
                "layers": [{"grad_norm": None, "update_ratio": None}]},
               {"train_loss": 0.5, "train_accuracy": 0.75, "dev_accuracy": 0.7, "train_dev_accuracy": 0.72,
                "layers": [{"grad_norm": 0.2, "update_ratio": 1e-3},
                           {"grad_norm": 0.4, "update_ratio": 2e-3}]}]
    progress = progress_from_history(history)
    assert progress.train_losses == (0.69, 0.5)
    assert progress.train_errors == pytest.approx((0.5, 0.25))
    assert progress.dev_errors == pytest.approx((0.6, 0.3))
    assert progress.train_dev_errors == (None, pytest.approx(0.28))
    assert progress.grad_norms == (0.2, 0.4) and progress.update_ratios == (1e-3, 2e-3)
    assert progress.start_loss == 0.69 and progress.peak_loss == 0.69 and progress.n_reports == 2
    assert progress_from_history([]) == Progress(n_reports=0)


def test_a_long_history_is_read_in_bounded_windows_that_keep_the_early_spike():
    def report(loss):
        return {"train_loss": loss, "train_accuracy": 0.5, "dev_accuracy": 0.5, "layers": []}
    history = [report(0.7), report(9.0)] + [report(0.69)] * 5000
    progress = progress_from_history(history)
    assert len(progress.train_errors) == 2 * MAX_SETTLED_WINDOW and progress.n_reports == 5002
    assert progress.start_loss == 0.7 and progress.peak_loss == 9.0
    result = diagnose(0.5, 0.5, 0.0, setup=Setup(optimizer="gd", learning_rate=5.0), progress=progress)
    assert result["cause"] == "learning_rate_too_large" and result["settled"]


def test_a_network_flattened_by_its_penalty_is_high_bias_with_the_penalty_to_loosen():
    result = diagnose(0.5, 0.5, 0.1, n_train=90, setup=Setup(l2=30.0), progress=flat_progress())
    assert result["verdict"] == "high_bias" and result["cause"] is None
    assert "(L2 λ 30): loosen it" in " ".join(result["advice"])
    # With a cause in sight, the cause still wins.
    zeros = diagnose(0.5, 0.5, 0.1, setup=Setup(l2=30.0, init="zeros"), progress=flat_progress())
    assert zeros["verdict"] == "not_learning" and zeros["cause"] == "zero_init"


# --- on the engine's own runs ------------------------------------------------------------------

def final_diagnosis(config):
    return [event["data"] for event in train(config) if event["event"] == "diagnosis"][-1]


def test_a_run_at_a_tiny_learning_rate_is_not_learning_for_that_reason():
    diagnosis = final_diagnosis({"seed": 1, "data": {"dataset": "circles", "n_samples": 400},
                                 "model": {"hidden": [{"units": 16}, {"units": 16}]},
                                 "optimizer": {"name": "gd", "learning_rate": 1e-5},
                                 "training": {"epochs": 40, "boundary_every": 0}})
    assert diagnosis["verdict"] == "not_learning" and diagnosis["settled"]
    assert diagnosis["cause"] == "learning_rate_too_small"
    assert any("Raise the learning rate" in line for line in diagnosis["advice"])


def test_a_train_dev_set_turns_a_mismatch_the_old_diagnosis_called_variance_into_data_mismatch():
    config = {"seed": 9, "data": {"dataset": "moons", "n_samples": 2000, "noise": 0.1, "dev_noise": 0.45,
                                  "split": {"train": 0.3, "dev": 0.3, "test": 0.2, "train_dev": 0.2}},
              "training": {"epochs": 60, "boundary_every": 0}}
    with_train_dev = final_diagnosis(config)
    assert with_train_dev["verdict"] == "data_mismatch"
    assert with_train_dev["data_mismatch"] > 0.1 > with_train_dev["variance"]
    without = final_diagnosis({**config, "data": {**config["data"], "split": {
        "train": 0.3, "dev": 0.3, "test": 0.4}}})
    assert without["verdict"] == "high_variance" and without["data_mismatch"] is None


def falling_progress(start=0.5, drop_per_report=0.01, reports=40, error=0.2):
    losses = tuple(start * (1 - drop_per_report) ** index for index in range(reports))
    return Progress(train_losses=losses, train_errors=(error,) * reports, dev_errors=(error,) * reports,
                    grad_norms=(0.1, 0.1), update_ratios=(1e-2, 1e-2))


def test_a_bias_whose_loss_still_falls_asks_for_more_updates_before_a_bigger_network():
    # Full-batch gradient descent after 40 updates: the accuracy has levelled off, the loss has not.
    advice = diagnose(0.80, 0.79, 0.0, setup=Setup(optimizer="gd", batch_size=360),
                      progress=falling_progress())["advice"]
    text = " ".join(advice)
    assert advice[1].startswith("Still learning: the training loss fell")
    assert "smaller mini-batches" in text and "faster optimizer" in text
    assert text.index("Train longer") < text.index("bigger network")


def test_still_learning_advice_names_only_levers_the_config_does_not_pull_already():
    # One example per update with Adam: neither smaller batches nor a faster optimizer is left.
    text = " ".join(diagnose(0.80, 0.79, 0.0, setup=Setup(optimizer="adam", batch_size=1),
                             progress=falling_progress())["advice"])
    assert "Still learning" in text
    assert "mini-batches" not in text and "faster optimizer" not in text


def test_a_bias_whose_loss_has_levelled_off_asks_for_a_bigger_network_first():
    advice = diagnose(0.80, 0.79, 0.0, setup=Setup(optimizer="gd"),
                      progress=falling_progress(drop_per_report=0.0))["advice"]
    assert advice[1] == "Train a bigger network: more hidden units or more layers."
    assert "Still learning" not in " ".join(advice)
