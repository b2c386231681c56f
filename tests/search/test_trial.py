"""The trial function on the real engine, in this process."""

from server.search.presets import QUICK_BASE
from server.search.worker import execute, execution_config, train_trial


def quick(**changes) -> dict:
    config = {**QUICK_BASE, "optimizer": {**QUICK_BASE["optimizer"], **changes.pop("optimizer", {})},
              "training": {**QUICK_BASE["training"], **changes.pop("training", {})}}
    assert not changes
    return config


def never() -> bool:
    return False


def test_a_trial_reports_the_final_dev_metrics():
    outcome = execute(train_trial, {"config": quick(optimizer={"learning_rate": 0.01})}, never)
    assert outcome["status"] == "completed"
    assert outcome["epochs_run"] == QUICK_BASE["training"]["epochs"]
    assert 0.5 < outcome["dev_accuracy"] <= 1.0
    assert outcome["dev_loss"] > 0
    assert "test_accuracy" not in outcome and "test_loss" not in outcome
    assert outcome["elapsed_s"] >= 0


def test_a_diverging_trial_is_recorded_as_diverged():
    config = quick(optimizer={"name": "gd", "learning_rate": 10.0}, training={"epochs": 200})
    config["model"] = {"hidden": [{"units": 64}, {"units": 64}, {"units": 64}], "init": "random",
                       "init_scale": 100.0}
    outcome = execute(train_trial, {"config": config}, never)
    assert outcome["status"] == "diverged"
    assert outcome["epochs_run"] < 200
    assert outcome["dev_loss"] is None or outcome["dev_loss"] == outcome["dev_loss"]  # never NaN


def test_a_trial_stops_at_the_next_epoch_when_asked():
    # Asked from the first poll on: the trial ends at an epoch boundary, whatever the machine's speed,
    # long before the 10,000 epochs it was given (seconds of training).
    outcome = execute(train_trial, {"config": quick(training={"epochs": 10000})}, lambda: True)
    assert outcome["status"] == "stopped"
    assert outcome["message"] == "the search was stopped"
    assert outcome["epochs_run"] < 10000


def test_a_trial_stops_at_its_time_limit():
    outcome = execute(train_trial, {"config": quick(training={"epochs": 10000}), "max_seconds": 0.2}, never)
    assert outcome["status"] == "stopped"
    assert outcome["message"] == "the trial ran past its 0.2 s limit"


def test_an_invalid_config_fails_the_trial_with_the_reason():
    outcome = execute(train_trial, {"config": {"optimizer": {"learning_rate": -1}}}, never)
    assert outcome["status"] == "failed"
    assert outcome["message"].startswith("ConfigError: optimizer.learning_rate:")


def test_trials_train_unpaced_without_pictures():
    config = quick(training={"epochs_per_second": 5.0, "boundary_every": 5, "report_every": 1})
    training = execution_config(config)["training"]
    assert training["epochs_per_second"] is None
    assert training["boundary_every"] == 0
    assert training["report_every"] == QUICK_BASE["training"]["epochs"]
    assert config["training"]["boundary_every"] == 5  # the caller's config is untouched
