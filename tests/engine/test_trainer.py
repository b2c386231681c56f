"""The training loop: event order and payloads, determinism, live control, stopping rules."""

import json
import math
import threading

import numpy as np
import pytest

from server.engine import ConfigError, Trainer, make_data, train
from server.engine.config import ACTIVATIONS, DATASETS, INITS, LIVE_FIELDS, OPTIMIZERS, SCHEDULES
from server.engine.data import bayes_error_floor
from server.engine.diagnosis import VERDICTS
from server.engine.layers import targets_from_labels
from server.engine.trainer import EarlyStopping, IterationCosts
from server.engine.uploads import UploadedData, upload_provided

SMALL = {"seed": 3, "data": {"dataset": "moons", "n_samples": 200},
         "model": {"hidden": [{"units": 6}, {"units": 4, "activation": "tanh"}]},
         "training": {"epochs": 12, "batch_size": 32, "boundary_every": 4}}

METRICS_FIELDS = {"epoch", "iteration", "learning_rate", "train_loss", "train_cost", "train_accuracy",
                  "dev_loss", "dev_accuracy", "layers", "elapsed_s"}
DONE_FIELDS = {"reason", "epoch", "best_epoch", "train_accuracy", "dev_accuracy", "test_accuracy",
               "train_loss", "dev_loss", "test_loss"}


def config_with(**sections):
    config = json.loads(json.dumps(SMALL))
    for section, values in sections.items():
        if isinstance(values, dict):
            config.setdefault(section, {}).update(values)
        else:
            config[section] = values
    return config


def without_timing(events):
    stripped = []
    for event in events:
        data = {key: value for key, value in event["data"].items() if key != "elapsed_s"}
        stripped.append((event["event"], data))
    return stripped


def of_kind(events, name):
    return [event["data"] for event in events if event["event"] == name]


def test_events_follow_the_contract():
    events = list(train(SMALL))
    names = [event["event"] for event in events]
    assert names[0] == "config" and names[-1] == "done"
    config = events[0]["data"]
    assert config["total_epochs"] == 12
    assert config["config"]["data"]["dataset"] == "moons"
    assert config["data"] == {"n_train": 120, "n_dev": 40, "n_test": 40, "n_train_dev": 0,
                              "n_features": 2, "n_classes": 2}
    assert set(config["points"]) == {"train", "dev", "test"}
    metrics = of_kind(events, "metrics")
    assert [m["epoch"] for m in metrics] == list(range(13))
    assert all(METRICS_FIELDS <= set(m) for m in metrics)
    assert [m["iteration"] for m in metrics] == [4 * epoch for epoch in range(13)]
    assert all(len(m["layers"]) == 3 for m in metrics)
    assert metrics[0]["layers"][0]["grad_norm"] is None
    assert all(layer["grad_norm"] > 0 and layer["update_ratio"] > 0 for layer in metrics[5]["layers"])
    assert [b["epoch"] for b in of_kind(events, "boundary")] == [0, 4, 8, 12]
    assert [d["epoch"] for d in of_kind(events, "diagnosis")] == [4, 8, 12]
    done = events[-1]["data"]
    assert DONE_FIELDS <= set(done)
    assert done["reason"] == "completed" and done["epoch"] == 12
    # Strict JSON everywhere: no NaN, no Infinity.
    json.dumps(events, allow_nan=False)


def test_training_lowers_the_loss():
    metrics = of_kind(list(train(config_with(training={"epochs": 30}))), "metrics")
    assert metrics[-1]["train_loss"] < 0.7 * metrics[0]["train_loss"]
    assert metrics[-1]["train_accuracy"] > 0.8


def test_same_config_same_events():
    config = config_with(model={"hidden": [{"units": 6, "keep_prob": 0.8, "batch_norm": True}]},
                         data={"augment": {"enabled": True}})
    assert without_timing(train(config)) == without_timing(train(config))


def test_the_seed_matters():
    first = of_kind(list(train(SMALL)), "done")[0]
    second = of_kind(list(train(config_with(seed=4))), "done")[0]
    assert first["train_loss"] != second["train_loss"]


def test_make_data_returns_what_training_sees():
    data = make_data(SMALL)
    trainer = Trainer(SMALL)
    np.testing.assert_array_equal(data["train"][0], trainer.dataset.X_train)
    np.testing.assert_array_equal(data["dev"][1], trainer.dataset.y_dev)


def test_bad_config_is_rejected_on_construction():
    with pytest.raises(ConfigError) as raised:
        Trainer({"training": {"batch_size": 0}})
    assert raised.value.details[0]["loc"] == "training.batch_size"


def test_a_trainer_runs_once():
    trainer = Trainer(SMALL)
    list(trainer.events())
    with pytest.raises(RuntimeError):
        trainer.events()


@pytest.mark.parametrize(("batch_size", "per_epoch"), [(32, 4), (50, 3), (120, 1), (5000, 1), (1, 120)])
def test_mini_batches_keep_the_last_partial_batch(batch_size, per_epoch):
    done = list(train(config_with(training={"epochs": 2, "batch_size": batch_size})))[-1]["data"]
    assert done["iteration"] == 2 * per_epoch


def test_divergence_ends_the_run_without_nan():
    config = config_with(model={"hidden": [{"units": 30}] * 4, "init": "random", "init_scale": 30},
                         optimizer={"name": "gd", "learning_rate": 10}, training={"epochs": 50})
    events = list(train(config))
    done = events[-1]["data"]
    assert done["reason"] == "diverged"
    assert done["epoch"] < 50
    assert done["train_loss"] is None
    json.dumps(events, allow_nan=False)


@pytest.mark.parametrize(("dataset", "batch_norm", "activation"), [
    ("circles", False, "linear"), ("digits", False, "relu"), ("digits", True, "linear")])
def test_divergence_of_every_kind_of_network(dataset, batch_norm, activation):
    layer = {"units": 20, "activation": activation, "batch_norm": batch_norm}
    events = list(train({"data": {"dataset": dataset, "n_samples": 100},
                         "model": {"hidden": [layer] * 3, "init": "random", "init_scale": 30},
                         "optimizer": {"name": "gd", "learning_rate": 10},
                         "training": {"epochs": 20, "batch_size": 8, "boundary_every": 1}}))
    assert events[-1]["data"]["reason"] == "diverged"
    last_metrics = [event["data"] for event in events if event["event"] == "metrics"][-1]
    assert last_metrics["epoch"] == events[-1]["data"]["epoch"]
    json.dumps(events, allow_nan=False)


OVERFITTING = {"seed": 1, "data": {"dataset": "moons", "n_samples": 60, "noise": 0.35},
               "model": {"hidden": [{"units": 64}, {"units": 64}]},
               "optimizer": {"learning_rate": 0.02},
               "training": {"epochs": 300, "batch_size": 64, "boundary_every": 0}}


@pytest.mark.parametrize(("restore_best", "batch_norm"), [(True, False), (False, False), (True, True)])
def test_early_stopping_stops_after_patience_epochs(restore_best, batch_norm):
    config = json.loads(json.dumps(OVERFITTING))
    config["training"]["early_stopping"] = {"patience": 10, "restore_best": restore_best}
    # With batch norm the dev loss also depends on the running averages, which must be restored too.
    config["model"]["hidden"][0]["batch_norm"] = batch_norm
    events = list(train(config))
    done = events[-1]["data"]
    assert done["reason"] == "early_stopped"
    assert done["epoch"] - done["best_epoch"] == 10
    dev_losses = {m["epoch"]: m["dev_loss"] for m in of_kind(events, "metrics")}
    assert dev_losses[done["best_epoch"]] == min(value for epoch, value in dev_losses.items() if epoch)
    kept = done["best_epoch"] if restore_best else done["epoch"]
    assert done["dev_loss"] == pytest.approx(dev_losses[kept], rel=1e-12)
    assert done["restored_best"] is restore_best


def test_live_updates_apply_at_the_next_epoch_boundary():
    config = config_with(schedule={"name": "exponential", "base": 0.9},
                         training={"epochs": 8, "batch_size": 30})
    trainer = Trainer(config)
    events = []
    for event in trainer.events():
        events.append(event)
        if event["event"] == "metrics" and event["data"]["epoch"] == 3:
            trainer.request_update({"optimizer": {"learning_rate": 0.5, "beta1": 0.8},
                                    "regularization": {"l2": 2.0},
                                    "model": {"hidden": [None, {"keep_prob": 0.5}]},
                                    "training": {"batch_size": 60, "epochs_per_second": 5}})
    updates = of_kind(events, "update")
    assert len(updates) == 1 and updates[0]["epoch"] == 3
    assert updates[0]["changes"]["optimizer"] == {"learning_rate": 0.5, "beta1": 0.8}
    metrics = {m["epoch"]: m for m in of_kind(events, "metrics")}
    assert metrics[3]["learning_rate"] == pytest.approx(0.01 * 0.9 ** 2)
    # The new rate is the schedule's a0; the schedule keeps counting epochs from the start.
    assert metrics[4]["learning_rate"] == pytest.approx(0.5 * 0.9 ** 3)
    assert metrics[4]["iteration"] - metrics[3]["iteration"] == 2
    assert metrics[3]["train_cost"] == metrics[3]["train_loss"]
    assert metrics[4]["train_cost"] > metrics[4]["train_loss"]
    assert trainer.optimizer.hyperparameters()["beta1"] == 0.8
    assert trainer.network.keep_probs == [1.0, 0.5]
    assert trainer.config.model.hidden[1].keep_prob == 0.5
    assert trainer.config.training.epochs_per_second == 5
    assert trainer.config.regularization.l2 == 2.0


def test_updates_of_hyperparameters_the_optimizer_does_not_use_are_recorded_only():
    trainer = Trainer(config_with(optimizer={"name": "gd"}, training={"epochs": 2}))
    trainer.request_update({"optimizer": {"beta2": 0.5}})
    events = list(trainer.events())
    assert of_kind(events, "update")[0]["epoch"] == 0
    assert trainer.config.optimizer.beta2 == 0.5
    assert events[-1]["data"]["reason"] == "completed"


@pytest.mark.parametrize(("update", "loc"), [
    ({"optimizer": {"learning_rate": -1}}, "config.optimizer.learning_rate"),
    ({"model": {"hidden": [None, None, {"keep_prob": 0.5}]}}, "config.model.hidden"),
    ({"data": {"noise": 0.2}}, "config.data"),
])
def test_bad_updates_are_refused_in_the_callers_thread(update, loc):
    trainer = Trainer(SMALL)
    with pytest.raises(ConfigError) as raised:
        trainer.request_update(update)
    assert raised.value.details[0]["loc"] == loc


def test_stop_ends_the_run_at_the_next_epoch():
    trainer = Trainer(config_with(training={"epochs": 100}))
    events = []
    for event in trainer.events():
        events.append(event)
        if event["event"] == "metrics" and event["data"]["epoch"] == 2:
            trainer.request_stop()
    done = events[-1]["data"]
    assert done["reason"] == "stopped" and done["epoch"] == 2 == trainer.epochs_completed
    assert done["test_accuracy"] is not None


def test_report_and_boundary_intervals():
    events = list(train(config_with(training={"epochs": 23, "report_every": 2, "boundary_every": 0})))
    assert [m["epoch"] for m in of_kind(events, "metrics")] == list(range(0, 23, 2))
    assert of_kind(events, "boundary") == []
    # Without boundaries the diagnosis comes every 10 reports, and once for the final weights.
    assert [d["epoch"] for d in of_kind(events, "diagnosis")] == [20, 23]


def test_boundary_is_a_probability_grid():
    boundary = of_kind(list(train(config_with(training={"epochs": 1}))), "boundary")[-1]
    assert len(boundary["z"]) == len(boundary["y"]) and len(boundary["z"][0]) == len(boundary["x"])
    values = np.array(boundary["z"])
    assert values.min() >= 0 and values.max() <= 1
    assert boundary["x"] == sorted(boundary["x"])


def test_digits_report_a_confusion_matrix_instead_of_a_boundary():
    events = list(train({"data": {"dataset": "digits", "n_samples": 300},
                         "model": {"hidden": [{"units": 16}]},
                         "training": {"epochs": 3, "boundary_every": 3}}))
    assert of_kind(events, "boundary") == []
    confusion = of_kind(events, "confusion")
    assert [c["epoch"] for c in confusion] == [0, 3]
    matrix = np.array(confusion[-1]["matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == events[0]["data"]["data"]["n_dev"]
    wrong = confusion[0]["misclassified"]
    assert 0 < len(wrong) <= 8
    for example in wrong:
        assert len(example["pixels"]) == 64
        assert all(0 <= pixel <= 16 for pixel in example["pixels"])
        assert example["label"] != example["predicted"]


@pytest.mark.parametrize(("report_every", "epochs", "expected"), [
    (1, 25, [0, 10, 20, 25]), (2, 40, [0, 20, 40])])
def test_digits_get_a_confusion_matrix_even_without_boundary_pictures(report_every, epochs, expected):
    events = list(train({"data": {"dataset": "digits", "n_samples": 200},
                         "model": {"hidden": [{"units": 8}]},
                         "training": {"epochs": epochs, "boundary_every": 0, "report_every": report_every}}))
    # the diagnosis cadence, and the final weights
    assert [c["epoch"] for c in of_kind(events, "confusion")] == expected
    assert [d["epoch"] for d in of_kind(events, "diagnosis")] == expected[1:]
    assert of_kind(events, "boundary") == []


def test_2d_data_without_boundary_pictures_gets_neither_picture():
    events = list(train(config_with(training={"epochs": 12, "boundary_every": 0})))
    assert of_kind(events, "boundary") == of_kind(events, "confusion") == []


THREE_BLOBS = "upload:" + "three2dblobs" * 2


def three_blobs(rows: int = 180) -> UploadedData:
    """Two features, three classes: blobs around three corners of a triangle, in units of 10."""
    rng = np.random.default_rng(5)
    y = np.arange(rows) % 3
    centers = np.array([[0.0, 20.0], [-20.0, -10.0], [20.0, -10.0]])
    return UploadedData(X=centers[y] + rng.normal(0.0, 4.0, size=(rows, 2)), y=y,
                        classes=("north", "west", "east"), features=("u", "v"))


def test_a_three_class_two_feature_upload_gets_class_regions_neuron_maps_and_a_confusion_matrix():
    config = {"seed": 2, "data": {"dataset": THREE_BLOBS, "n_samples": 180},
              "model": {"hidden": [{"units": 8, "activation": "tanh"}]},
              "optimizer": {"name": "adam", "learning_rate": 0.02},
              "training": {"epochs": 40, "boundary_every": 20, "batch_size": 32}}
    with upload_provided(THREE_BLOBS, three_blobs()):
        events = list(train(config))
    assert events[0]["data"]["points"] is not None and events[0]["data"]["input_maps"] is not None
    boundaries = of_kind(events, "boundary")
    assert [b["epoch"] for b in boundaries] == [0, 20, 40]
    final = boundaries[-1]
    assert "z" not in final and final["classes"] == 3
    predicted, confidence = np.array(final["predicted"]), np.array(final["confidence"])
    assert predicted.shape == confidence.shape == (len(final["y"]), len(final["x"]))
    assert set(np.unique(predicted)) == {0, 1, 2}  # a trained network carves out all three regions
    assert confidence.min() >= 1 / 3 - 1e-3 and confidence.max() <= 1
    assert np.array_equal(confidence, np.round(confidence, 3))
    # Rows go up the plane: the top row is the north blob's, the bottom corners the others'.
    assert predicted[-1, len(final["x"]) // 2] == 0
    assert (predicted[0, 0], predicted[0, -1]) == (1, 2)
    assert len(final["neurons"]["layers"]) == 1 and final["neurons"]["layers"][0]["shown"] == 8
    assert [c["epoch"] for c in of_kind(events, "confusion")] == [0, 20, 40]
    assert np.array(of_kind(events, "confusion")[-1]["matrix"]).shape == (3, 3)
    assert of_kind(events, "done")[0]["dev_accuracy"] > 0.9


def test_a_data_seed_splits_an_upload_anew_and_keeps_the_network():
    config = {"seed": 2, "data": {"dataset": THREE_BLOBS, "n_samples": 180}}
    with upload_provided(THREE_BLOBS, three_blobs()):
        plain, split_anew = Trainer(config), Trainer({**config, "data": {**config["data"], "seed": 9}})
    assert not np.array_equal(plain.dataset.y_dev, split_anew.dataset.y_dev)
    np.testing.assert_array_equal(plain.network.parameters, split_anew.network.parameters)


def test_two_class_boundaries_keep_z_alone():
    boundary = of_kind(list(train(config_with(training={"epochs": 1}))), "boundary")[-1]
    assert "z" in boundary and not {"classes", "predicted", "confidence"} & set(boundary)
    assert of_kind(list(train(config_with(training={"epochs": 1}))), "confusion") == []


@pytest.mark.parametrize(("data", "bayes"), [
    ({"label_noise": 0.1, "noise": 0.0}, 0.1),
    # circles 0.2 apart with noise 0.1 overlap: the floor is well above label_noise
    ({"dataset": "circles", "label_noise": 0.1}, bayes_error_floor("circles", 0.1, 0.1)),
    ({"label_noise": 0.1, "bayes_error": 0.05}, 0.05)])
def test_diagnosis_uses_the_bayes_error(data, bayes):
    diagnosis = of_kind(list(train(config_with(data=data, training={"epochs": 4}))), "diagnosis")[-1]
    assert diagnosis["bayes_error"] == pytest.approx(bayes)
    assert bayes_error_floor("circles", 0.1, 0.1) > 0.2
    assert diagnosis["verdict"] in VERDICTS
    assert diagnosis["avoidable_bias"] == pytest.approx(diagnosis["train_error"] - bayes)
    assert math.isclose(diagnosis["variance"], diagnosis["dev_error"] - diagnosis["train_error"])


def test_augmentation_changes_training_but_not_evaluation():
    plain = list(train(config_with(training={"epochs": 3})))
    augmented = list(train(config_with(training={"epochs": 3}, data={"augment": {"enabled": True}})))
    assert of_kind(plain, "metrics")[0] == {**of_kind(augmented, "metrics")[0],
                                            "elapsed_s": of_kind(plain, "metrics")[0]["elapsed_s"]}
    assert of_kind(plain, "done")[0]["train_loss"] != of_kind(augmented, "done")[0]["train_loss"]


def random_config(rng):
    """A small config drawn from the whole vocabulary, extreme values included."""
    hidden = [{"units": int(rng.integers(1, 9)),
               "activation": str(rng.choice(ACTIVATIONS)),
               "keep_prob": float(rng.choice([1.0, 0.5])), "batch_norm": bool(rng.integers(2))}
              for _ in range(int(rng.integers(0, 4)))]
    dataset = str(rng.choice(DATASETS))
    return {
        "seed": int(rng.integers(1000)),
        "data": {"dataset": dataset, "n_samples": int(rng.integers(20, 80)),
                 "label_noise": float(rng.choice([0.0, 0.3])), "augment": {"enabled": bool(rng.integers(2))}},
        "model": {"hidden": hidden, "init": str(rng.choice(INITS)),
                  "init_scale": float(rng.choice([0.01, 1.0, 100.0]))},
        "regularization": {"l2": float(rng.choice([0.0, 5.0])), "l1": float(rng.choice([0.0, 5.0]))},
        "optimizer": {"name": str(rng.choice(OPTIMIZERS)),
                      "learning_rate": float(rng.choice([1e-4, 0.1, 10.0]))},
        "schedule": {"name": str(rng.choice(SCHEDULES)), "every": 2},
        "training": {"epochs": int(rng.integers(1, 6)), "batch_size": int(rng.choice([1, 7, 5000])),
                     "early_stopping": {"patience": int(rng.choice([0, 1]))},
                     "report_every": int(rng.integers(1, 3)), "boundary_every": int(rng.integers(0, 3))},
    }


@pytest.mark.parametrize("draw", range(40))
def test_any_config_ends_with_done_and_strict_json(draw):
    config = random_config(np.random.default_rng(draw))
    events = list(train(config))
    names = [event["event"] for event in events]
    assert names[0] == "config" and names[-1] == "done" and names.count("done") == 1
    json.dumps(events, allow_nan=False)
    done = events[-1]["data"]
    assert done["reason"] in ("completed", "early_stopped", "diverged")
    assert done["epoch"] <= config["training"]["epochs"]


def test_control_from_another_thread():
    trainer = Trainer(config_with(training={"epochs": 10000, "boundary_every": 0}))
    events, running = [], threading.Event()

    def consume():
        for event in trainer.events():
            events.append(event)
            if event["event"] == "metrics" and event["data"]["epoch"] == 2:
                running.set()

    consumer = threading.Thread(target=consume)
    consumer.start()
    assert running.wait(timeout=30)
    trainer.request_update({"optimizer": {"learning_rate": 0.2}})
    trainer.request_stop()
    consumer.join(timeout=30)
    assert not consumer.is_alive()
    names = [event["event"] for event in events]
    assert names[-2:] in (["update", "done"], ["diagnosis", "done"])
    assert "update" in names
    done = events[-1]["data"]
    assert done["reason"] == "stopped" and done["epoch"] < 10000
    assert trainer.config.optimizer.learning_rate == 0.2


def test_a_train_dev_set_is_reported_in_metrics_and_done():
    split = {"train": 0.5, "dev": 0.2, "test": 0.1, "train_dev": 0.2}
    events = list(train(config_with(data={"dataset": "moons", "n_samples": 200, "split": split})))
    assert events[0]["data"]["data"]["n_train_dev"] == 40
    trainer = Trainer(config_with(data={"dataset": "moons", "n_samples": 200, "split": split}))
    X, y = trainer.dataset.X_train_dev, trainer.dataset.y_train_dev
    initial = trainer.network.evaluate(X, y)
    metrics = of_kind(events, "metrics")
    assert metrics[0]["train_dev_loss"] == pytest.approx(initial.loss)
    assert metrics[0]["train_dev_accuracy"] == pytest.approx(initial.accuracy)
    assert all(0 <= m["train_dev_accuracy"] <= 1 and m["train_dev_loss"] > 0 for m in metrics)
    assert metrics[-1]["train_dev_loss"] < metrics[0]["train_dev_loss"]
    # never trained on: an epoch is the 100 training examples in batches of 32
    assert events[0]["data"]["data"]["n_train"] == 100
    assert [m["iteration"] for m in metrics] == [4 * epoch for epoch in range(13)]
    done = events[-1]["data"]
    assert done["train_dev_loss"] == metrics[-1]["train_dev_loss"]
    assert done["train_dev_accuracy"] == metrics[-1]["train_dev_accuracy"]


def test_without_a_train_dev_set_no_train_dev_numbers_are_sent():
    events = list(train(SMALL))
    assert events[0]["data"]["data"]["n_train_dev"] == 0
    assert not any("train_dev_loss" in event["data"] for event in events)


# --- per-iteration costs -------------------------------------------------------------------------

def test_batch_gd_reports_one_cost_per_epoch_the_full_batch_training_cost():
    # Batch norm makes training mode (batch statistics) differ from the evaluation of train_cost.
    config = config_with(model={"hidden": [{"units": 6, "batch_norm": True}, {"units": 4}]},
                         regularization={"l2": 0.5}, training={"epochs": 6, "batch_size": 5000})
    trainer = Trainer(config)
    targets = targets_from_labels(trainer.dataset.y_train, 2)
    reported, expected = [], []
    for event in trainer.events():
        if event["event"] == "metrics":
            reported.append(event["data"]["iteration_costs"])
            expected.append(trainer.network.cost(trainer.dataset.X_train, targets))
    assert reported[0] == []
    assert [len(costs) for costs in reported[1:]] == [1] * 6
    for costs, cost_before in zip(reported[1:], expected, strict=False):
        assert costs[0] == pytest.approx(cost_before, rel=1e-10)


def test_sgd_reports_every_update_of_the_epoch():
    events = list(train(config_with(training={"epochs": 3, "batch_size": 1})))
    metrics = of_kind(events, "metrics")
    assert [len(m["iteration_costs"]) for m in metrics] == [0, 120, 120, 120]
    assert all(cost > 0 for m in metrics for cost in m["iteration_costs"])
    # one example at a time: the costs jitter around the full-batch one
    epoch_costs = np.array(metrics[1]["iteration_costs"])
    assert epoch_costs.std() > 0.3 * epoch_costs.mean()


@pytest.mark.parametrize(("report_every", "stride"), [(2, 1), (3, 2), (10, 8)])
def test_costs_beyond_256_are_every_power_of_two_th_update(report_every, stride):
    epochs = 10
    every_epoch = of_kind(train(config_with(training={"epochs": epochs, "batch_size": 1})), "metrics")
    all_costs = [cost for m in every_epoch[1:] for cost in m["iteration_costs"]]
    thinned = of_kind(train(config_with(training={"epochs": epochs, "batch_size": 1,
                                                  "report_every": report_every})), "metrics")
    start = 0
    for m in thinned[1:]:
        updates = 120 * report_every
        assert m["iteration_costs"] == all_costs[start:start + updates:stride]
        assert len(m["iteration_costs"]) <= 256
        start += updates


def test_the_thinning_keeps_every_stride_th_cost_across_calls():
    costs = IterationCosts(limit=4)
    costs.extend(np.arange(3.0))
    costs.extend(np.arange(3.0, 7.0))
    assert costs.take() == [0.0, 2.0, 4.0, 6.0]
    costs.extend(np.array([1.0, np.nan, np.inf, 2.0, 3.0]))
    assert costs.take() == [1.0, None, 3.0]
    assert costs.take() == []


def test_a_diverging_run_reports_non_finite_costs_as_null():
    events = list(train(config_with(optimizer={"name": "gd", "learning_rate": 10.0},
                                    model={"hidden": [{"units": 6, "activation": "linear"}] * 4,
                                           "init": "random", "init_scale": 10.0},
                                    training={"epochs": 50, "batch_size": 8})))
    assert events[-1]["data"]["reason"] == "diverged"
    assert None in of_kind(events, "metrics")[-1]["iteration_costs"]
    json.dumps(events, allow_nan=False)


def test_history_holds_the_metrics_payloads_sent_so_far():
    trainer = Trainer(config_with(training={"epochs": 6, "report_every": 2}))
    sent = []
    for event in trainer.events():
        if event["event"] == "metrics":
            sent.append({key: value for key, value in event["data"].items() if key != "iteration_costs"})
        assert trainer.history == sent
    assert [entry["epoch"] for entry in trainer.history] == [0, 2, 4, 6]
    assert all("iteration_costs" not in entry for entry in trainer.history)


LIVE_VALUES = {"optimizer.learning_rate": 0.05, "optimizer.beta": 0.5, "optimizer.beta1": 0.5,
               "optimizer.beta2": 0.9, "optimizer.epsilon": 1e-6, "regularization.l2": 0.3,
               "regularization.l1": 0.2, "model.hidden.keep_prob": 0.7, "training.batch_size": 16,
               "training.epochs_per_second": 20.0}


def test_every_live_field_reaches_the_config_and_the_running_objects():
    assert set(LIVE_VALUES) == {live.path for live in LIVE_FIELDS}
    update = {}
    for path, value in LIVE_VALUES.items():
        section, name = path.split(".", 1)
        if section == "model":
            update["model"] = {"hidden": [{"keep_prob": value}, None]}
        else:
            update.setdefault(section, {})[name] = value
    trainer = Trainer(config_with(optimizer={"name": "adam"}, training={"epochs": 2}))
    trainer.request_update(update)
    events = list(trainer.events())
    config = trainer.config.model_dump()
    for path, value in LIVE_VALUES.items():
        section, name = path.split(".", 1)
        actual = config["model"]["hidden"][0]["keep_prob"] if section == "model" else config[section][name]
        assert actual == value, path
    assert trainer.optimizer.hyperparameters() == {"beta1": 0.5, "beta2": 0.9, "epsilon": 1e-6}
    assert (trainer.network.l2, trainer.network.l1, trainer.network.keep_probs) == (0.3, 0.2, [0.7, 1.0])
    assert of_kind(events, "metrics")[1]["learning_rate"] == 0.05
    assert of_kind(events, "metrics")[1]["iteration"] == 120 // 16 + 1


def test_early_stopping_tracks_the_best_dev_loss_and_its_weights():
    network = Trainer(SMALL).network
    stopping = EarlyStopping(patience=2, restore_best=True)
    stopping.observe(1, 0.9, network)
    best = network.parameters.copy()
    network.parameters += 1.0
    stopping.observe(2, 0.95, network)
    assert stopping.best_epoch == 1 and not stopping.should_stop(2)
    assert stopping.should_stop(3)
    assert stopping.restore(network)
    np.testing.assert_array_equal(network.parameters, best)


def test_early_stopping_off_still_names_the_best_epoch_but_never_stops_or_restores():
    network = Trainer(SMALL).network
    stopping = EarlyStopping(patience=0, restore_best=True)
    for epoch, loss in enumerate([0.9, 0.5, float("nan"), 0.7], start=1):
        stopping.observe(epoch, loss, network)
    assert stopping.best_epoch == 2 and not stopping.active
    assert not stopping.should_stop(100) and not stopping.restore(network)
