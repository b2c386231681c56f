"""The API over the real NumPy engine, with small fast configs."""

from __future__ import annotations

import pytest

from server.engine import Trainer
from tests.web.api_client import control, epoch_of, start
from tests.web.sse_client import StreamReader

SMALL = {"seed": 3, "data": {"dataset": "moons", "n_samples": 120},
         "model": {"hidden": [{"units": 6}]}, "optimizer": {"name": "gd", "learning_rate": 0.1},
         "training": {"epochs": 12, "batch_size": 32, "boundary_every": 4}}


def with_training(**training):
    return {**SMALL, "training": {**SMALL["training"], **training}}


@pytest.fixture
def client(make_app):
    return make_app(TRAINER_FACTORY=Trainer).test_client()


def test_a_real_run_streams_every_event_of_the_contract(client):
    run = start(client, SMALL)
    reader = StreamReader(client.get(run["events_url"]))
    messages = reader.events()
    reader.close()
    names = [message.event for message in messages]
    assert names[0] == "config" and names[-1] == "done"
    assert {"metrics", "boundary", "diagnosis"} <= set(names)
    assert [message.id for message in messages] == list(range(1, len(messages) + 1))
    assert [epoch_of(m) for m in messages if m.event == "metrics"] == list(range(0, 13))
    done = messages[-1].data
    assert done["reason"] == "completed" and done["epoch"] == 12
    status = client.get(f"/api/runs/{run['id']}").get_json()
    assert status["status"] == "done" and status["latest"]["metrics"]["epoch"] == 12


def test_a_live_update_changes_the_learning_rate_from_its_epoch_on(client):
    run = start(client, with_training(epochs=400, epochs_per_second=100))
    reader = StreamReader(client.get(run["events_url"]))
    reader.events(until=lambda message: (epoch_of(message) or 0) >= 2)
    control(client, run, "update", config={"optimizer": {"learning_rate": 0.5}})
    update = reader.events(until=lambda message: message.event == "update")[-1]
    assert update.data["changes"] == {"optimizer": {"learning_rate": 0.5}}
    after = reader.events(until=lambda message: (epoch_of(message) or 0) >= update.data["epoch"] + 3)
    rates = {m.data["epoch"]: m.data["learning_rate"] for m in reader.messages if m.event == "metrics"}
    assert all(rate == (0.5 if epoch > update.data["epoch"] else 0.1) for epoch, rate in rates.items()), rates
    assert [m.event for m in after].count("metrics") >= 3
    control(client, run, "stop")
    done = reader.events()[-1]
    reader.close()
    assert done.event == "done" and done.data["reason"] == "stopped"
    status = client.get(f"/api/runs/{run['id']}").get_json()
    assert status["status"] == "stopped" and status["config"]["optimizer"]["learning_rate"] == 0.5


def test_pausing_a_real_run_stops_its_metrics_until_resumed(client):
    run = start(client, with_training(epochs=400, epochs_per_second=100))
    reader = StreamReader(client.get(run["events_url"]))
    reader.events(until=lambda message: (epoch_of(message) or 0) >= 2)
    paused = control(client, run, "pause")
    # Only the epoch already computed may still arrive (unpaused: 50 epochs).
    reader.messages_during(0.5)
    assert max(filter(None, map(epoch_of, reader.messages))) <= paused["latest"]["epoch"] + 1
    control(client, run, "resume")
    last = max(filter(None, map(epoch_of, reader.messages)))
    reader.events(until=lambda message: (epoch_of(message) or 0) >= last + 2)
    control(client, run, "stop")
    assert reader.events()[-1].data["reason"] == "stopped"
    reader.close()


def test_a_diverging_run_ends_with_status_diverged(client):
    config = {**SMALL, "model": {"hidden": [{"units": 6, "activation": "linear"}] * 3, "init": "random",
                                 "init_scale": 50},
              "optimizer": {"name": "gd", "learning_rate": 10}, "training": {"epochs": 50}}
    run = start(client, config)
    reader = StreamReader(client.get(run["events_url"]))
    messages = reader.events()
    reader.close()
    assert messages[-1].data["reason"] == "diverged"
    assert client.get(f"/api/runs/{run['id']}").get_json()["status"] == "diverged"


def test_gradcheck_accepts_a_bare_config_or_a_wrapped_one_with_the_bug(client):
    response = client.post("/api/gradcheck", json=SMALL)
    assert response.status_code == 200
    result = response.get_json()
    assert result["verdict"] == "great" and result["difference"] < 1e-7 and result["layers"]
    broken = client.post("/api/gradcheck", json={"config": SMALL, "inject_bug": True})
    assert broken.status_code == 200
    assert broken.get_json()["verdict"] == "wrong"
