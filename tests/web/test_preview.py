"""POST /api/preview: what a config will make, from the engine, validated like POST /api/runs."""

from __future__ import annotations

import pytest

from server.engine import train
from tests.web.api_client import start
from tests.web.sse_client import strict_json


def body_of(response):
    return strict_json(response.get_data(as_text=True))


def test_the_default_config_previews_its_data_and_network(client):
    response = client.post("/api/preview", json={})
    assert response.status_code == 200
    body = body_of(response)
    assert set(body) == {"data", "parameters", "points", "input_maps"}
    data = body["data"]
    assert data["n_features"] == 2 and data["n_classes"] == 2 and data["is_2d"] is True
    assert data["sizes"] == {"train": 360, "dev": 120, "test": 120, "train_dev": 0}
    assert 0.1 < data["bayes_error"] < 0.25  # circles 0.2 apart with noise 0.1
    assert body["parameters"] == 2 * 8 + 8 + 8 + 1


def test_the_preview_points_are_the_config_events_points(client):
    config = {"seed": 5, "data": {"dataset": "moons", "n_samples": 300,
                                  "split": {"train": 0.5, "dev": 0.2, "test": 0.1, "train_dev": 0.2}}}
    response = client.post("/api/preview", json=config)
    assert response.status_code == 200
    body = body_of(response)
    first = next(iter(train(config)))
    assert body["points"] == first["data"]["points"]
    assert body["data"]["sizes"] == {"train": 150, "dev": 60, "test": 30, "train_dev": 60}


def test_digits_preview_has_64_inputs_10_classes_and_no_points(client):
    config = {"data": {"dataset": "digits", "n_samples": 1797, "label_noise": 0.1},
              "model": {"hidden": [{"units": 16, "batch_norm": True}, {"units": 4}]}}
    response = client.post("/api/preview", json=config)
    assert response.status_code == 200
    body = body_of(response)
    assert body["data"] == {"n_features": 64, "n_classes": 10, "is_2d": False, "bayes_error": 0.1,
                            "sizes": {"train": 1079, "dev": 359, "test": 359, "train_dev": 0}}
    assert body["parameters"] == (64 * 16 + 2 * 16) + (16 * 4 + 4) + (4 * 10 + 10)
    assert body["points"] is None


def test_a_given_bayes_error_is_previewed_as_given(client):
    response = client.post("/api/preview", json={"data": {"bayes_error": 0.05}})
    assert response.status_code == 200
    assert body_of(response)["data"]["bayes_error"] == 0.05


@pytest.mark.parametrize(("config", "loc"), [
    ({"data": {"dataset": "digits", "n_samples": 3000}}, "data.n_samples"),
    ({"model": {"hidden": [{"units": 0}]}}, "model.hidden.0.units"),
    ({"data": {"split": {"train": 0.6, "dev": 0.2, "test": 0.2, "train_dev": 0.1}}}, "data.split"),
    ({"colour": "red"}, "colour"),
])
def test_a_bad_config_gets_the_400_of_post_runs_naming_the_field(client, config, loc):
    response = client.post("/api/preview", json=config)
    assert response.status_code == 400
    body = body_of(response)
    assert body["error"] == "invalid configuration"
    assert [detail["loc"] for detail in body["details"]] == [loc]
    assert body == body_of(client.post("/api/runs", json=config))


def test_a_non_json_preview_gets_415(client):
    response = client.post("/api/preview", data="epochs=3", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


# --- strict numbers over HTTP (the schema says number, the API takes it at its word) -------------

@pytest.mark.parametrize(("config", "loc"), [
    ({"seed": True}, "seed"),
    ({"optimizer": {"learning_rate": "0.1"}}, "optimizer.learning_rate"),
    ({"training": {"epochs": "100"}}, "training.epochs"),
])
@pytest.mark.parametrize("route", ["/api/runs", "/api/preview"])
def test_booleans_and_numeric_strings_get_400_naming_the_field(client, route, config, loc):
    response = client.post(route, json=config)
    assert response.status_code == 400
    assert [detail["loc"] for detail in body_of(response)["details"]] == [loc]


def test_a_live_update_to_true_is_refused_not_taken_as_one(client):
    run = start(client, {"training": {"epochs": 1000, "epochs_per_second": 20}})
    response = client.post(f"/api/runs/{run['id']}/control",
                           json={"action": "update", "config": {"optimizer": {"learning_rate": True}}})
    assert response.status_code == 400
    assert body_of(response) == {"error": "invalid update", "details": [
        {"loc": "config.optimizer.learning_rate", "msg": "Input should be a number, not true or false"}]}
    status = client.get(f"/api/runs/{run['id']}")
    assert status.status_code == 200
    assert body_of(status)["config"]["optimizer"]["learning_rate"] == 0.01
