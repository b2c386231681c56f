"""A run's metrics as CSV and its trained network as JSON and as PyTorch source.

The JSON export is checked everywhere: the network rebuilt from it in NumPy
reproduces the run's final accuracies exactly.  The PyTorch file is parsed
everywhere; running it needs torch, so that test exists only where torch is
installed (it is defined under a module-level condition, so a machine
without torch collects nothing rather than a skip).
"""

from __future__ import annotations

import ast
import csv
import importlib.util
import io

import numpy as np
import pytest

from server.engine import Trainer, make_data
from server.engine.config import parse_config
from server.engine.data import prepare_data
from tests.web.api_client import start
from tests.web.sse_client import StreamReader
from tests.web.test_datasets import table, uploaded

TORCH_INSTALLED = importlib.util.find_spec("torch") is not None

RICH = {"seed": 4, "data": {"dataset": "moons", "n_samples": 200, "split": {
            "train": 0.5, "dev": 0.2, "test": 0.2, "train_dev": 0.1}},
        "model": {"hidden": [{"units": 8, "activation": "tanh", "batch_norm": True, "keep_prob": 0.8},
                             {"units": 5, "activation": "leaky_relu"}]},
        "training": {"epochs": 15, "batch_size": 32, "boundary_every": 5}}


@pytest.fixture(params=[0, 1], ids=["threads", "host-process"])
def engine_client(request, make_app):
    """The real engine, in the web process's threads and in a training host process."""
    if request.param:
        return make_app(RUN_PROCESSES=1, TRAINER_FACTORY=None).test_client()
    return make_app(TRAINER_FACTORY=Trainer).test_client()


def finished(client, config: dict) -> tuple[dict, list]:
    run = start(client, config)
    reader = StreamReader(client.get(run["events_url"]))
    messages = reader.events()
    reader.close()
    assert messages[-1].event == "done", messages[-1]
    return run, messages


def forward(model: dict, X: np.ndarray) -> np.ndarray:
    """Evaluation-mode logits from the JSON export, written from its documented layout."""
    activations = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh,
                   "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
                   "sigmoid": lambda z: 0.5 * (1 + np.tanh(0.5 * z)), "linear": lambda z: z}
    a = X
    for layer in model["layers"]:
        z = np.dot(a, np.array(layer["W"]))
        if layer["b"] is not None:
            z += np.array(layer["b"])
        norm = layer["batch_norm"]
        if norm:
            scale = np.array(norm["gamma"]) / np.sqrt(np.array(norm["running_var"]) + norm["epsilon"])
            z = z * scale + (np.array(norm["beta"]) - np.array(norm["running_mean"]) * scale)
        a = activations[layer["activation"]](z) if layer["activation"] else z
    return a


def predictions(model: dict, X: np.ndarray) -> np.ndarray:
    logits = forward(model, X)
    return (logits[:, 0] > 0).astype(int) if model["output"] == "sigmoid" else logits.argmax(axis=1)


def test_the_json_export_reproduces_the_run_accuracies_exactly(engine_client):
    run, messages = finished(engine_client, RICH)
    response = engine_client.get(f"{run['status_url']}/export?format=json")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    model = response.get_json()
    assert model["format"] == "tuning-playground/model" and model["output"] == "sigmoid"
    assert [layer["units"] for layer in model["layers"]] == [8, 5, 1]
    assert model["layers"][0]["b"] is None and model["layers"][0]["keep_prob"] == 0.8
    assert model["layers"][0]["batch_norm"]["momentum"] == 0.9
    done = messages[-1].data
    for name, (X, y) in make_data(RICH).items():
        assert float(np.mean(predictions(model, X) == y)) == done[f"{name}_accuracy"], name
    dataset = prepare_data(parse_config(RICH), np.random.default_rng(RICH["seed"]))
    assert model["normalization"]["mean"] == dataset.mean.tolist()
    assert model["normalization"]["std"] == dataset.std.tolist()


def test_an_upload_export_normalizes_raw_rows_and_names_its_classes(engine_client):
    text, X_raw = table(rows=120, features=3, classes=("lo", "hi"))
    info = uploaded(engine_client, text)
    config = {"data": {"dataset": info["dataset"], "n_samples": 120}, "training": {"epochs": 10}}
    run, messages = finished(engine_client, config)
    model = engine_client.get(f"{run['status_url']}/export?format=json").get_json()
    assert model["classes"] == ["hi", "lo"] and model["features"] == ["f1", "f2", "f3"]
    normalized = (X_raw - np.array(model["normalization"]["mean"])) / np.array(model["normalization"]["std"])
    y = np.array([int(value <= 0) for value in X_raw[:, 0]])  # "hi" is class 0, "lo" class 1
    correct = int((predictions(model, normalized) == y).sum())
    done = messages[-1].data
    sizes = messages[0].data["data"]
    expected = sum(done[f"{name}_accuracy"] * sizes[f"n_{name}"] for name in ("train", "dev", "test"))
    assert correct == round(expected)


def test_the_pytorch_export_is_python_defining_model_and_normalize(engine_client):
    run, _ = finished(engine_client, RICH)
    response = engine_client.get(f"{run['status_url']}/export?format=pytorch")
    assert response.status_code == 200 and response.mimetype == "text/x-python"
    assert response.headers["Content-Disposition"].endswith('_model.py"')
    tree = ast.parse(response.get_data(as_text=True))
    assigned = {target.id for node in tree.body if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name)}
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert {"model", "CLASSES", "MEAN", "STD"} <= assigned and {"normalize", "predict"} <= functions
    source = response.get_data(as_text=True)
    assert "nn.BatchNorm1d(8, eps=1e-05, momentum=0.1)" in source and "nn.Dropout(p=0.2)" in source


def test_export_needs_a_finished_run_and_a_known_format(make_app):
    client = make_app(TRAINER_FACTORY=Trainer).test_client()
    slow = start(client, {**RICH, "training": {"epochs": 2000, "epochs_per_second": 5}})
    response = client.get(f"{slow['status_url']}/export")
    assert response.status_code == 409 and "still training" in response.get_json()["error"]
    bad = client.get(f"{slow['status_url']}/export?format=onnx")
    assert bad.status_code == 400 and bad.get_json()["details"][0]["loc"] == "format"
    assert client.get("/api/runs/nope/export").status_code == 404
    assert client.get("/api/runs/nope/metrics.csv").status_code == 404
    client.post(f"{slow['status_url']}/control", json={"action": "stop"})
    diverging = {"data": {"n_samples": 60}, "optimizer": {"name": "gd", "learning_rate": 10},
                 "model": {"hidden": [{"units": 4, "activation": "linear"}] * 6, "init": "random",
                           "init_scale": 100}, "training": {"epochs": 50}}
    run, messages = finished(client, diverging)
    assert messages[-1].data["reason"] == "diverged"
    response = client.get(f"{run['status_url']}/export")
    assert response.status_code == 409 and "diverged" in response.get_json()["error"]


def test_metrics_csv_has_one_row_per_metrics_event(engine_client):
    run, messages = finished(engine_client, RICH)
    response = engine_client.get(f"{run['status_url']}/metrics.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == f'attachment; filename="run-{run["id"]}-metrics.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    metrics = [message.data for message in messages if message.event == "metrics"]
    assert len(rows) == len(metrics) == 16
    header = list(rows[0])
    assert header[:10] == ["epoch", "iteration", "learning_rate", "train_loss", "train_cost",
                           "train_accuracy", "dev_loss", "dev_accuracy",
                           "train_dev_loss", "train_dev_accuracy"]
    assert "grad_norm_3" in header and "weight_norm_1" in header
    last, event = rows[-1], metrics[-1]
    assert int(last["epoch"]) == event["epoch"] and int(last["iteration"]) == event["iteration"]
    assert float(last["dev_accuracy"]) == event["dev_accuracy"]
    assert float(last["grad_norm_2"]) == event["layers"][1]["grad_norm"]
    assert rows[0]["grad_norm_1"] == ""  # epoch 0 has no gradient yet: an empty cell, not "None"


if TORCH_INSTALLED:
    def test_the_pytorch_file_run_under_torch_reproduces_the_accuracies(engine_client, tmp_path):
        import runpy

        run, messages = finished(engine_client, RICH)
        path = tmp_path / "model.py"
        path.write_bytes(engine_client.get(f"{run['status_url']}/export?format=pytorch").get_data())
        exported = runpy.run_path(str(path))
        dataset = prepare_data(parse_config(RICH), np.random.default_rng(RICH["seed"]))
        done = messages[-1].data
        for name, (X, y) in dataset.splits().items():
            raw = dataset.denormalize(X)
            assert np.allclose(exported["normalize"](raw), X)
            assert float(np.mean(exported["predict"](raw) == y)) == done[f"{name}_accuracy"], name
