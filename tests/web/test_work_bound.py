"""A run that would ask too much of a training host: a 400 naming the field, before and during training."""

from server.limits import CONFIG_LIMITS
from tests.web.api_client import start

HEAVY_BUT_ALLOWED = {"data": {"n_samples": 3000}, "model": {"hidden": [{"units": 256}, {"units": 256}]},
                     "training": {"batch_size": 600, "epochs": 5}}


def test_a_config_over_the_work_bound_is_refused_naming_the_network(client):
    widest = [{"units": CONFIG_LIMITS.max_units}] * CONFIG_LIMITS.max_hidden_layers
    response = client.post("/api/runs", json={"data": {"n_samples": 5000}, "model": {"hidden": widest}})
    assert response.status_code == 400
    body = response.get_json()
    assert [detail["loc"] for detail in body["details"]] == ["model.hidden"]
    assert "multiply-adds" in body["details"][0]["msg"]


def test_a_live_batch_size_over_the_work_bound_is_refused_naming_it(client):
    run = start(client, HEAVY_BUT_ALLOWED)
    response = client.post(f"/api/runs/{run['id']}/control",
                           json={"action": "update", "config": {"training": {"batch_size": 1}}})
    assert response.status_code == 400
    assert [detail["loc"] for detail in response.get_json()["details"]] == ["config.training.batch_size"]
