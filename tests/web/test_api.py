"""The JSON API with Flask's test client and a fake trainer: every route and error code."""

from __future__ import annotations

import json
import os

import pytest

from tests.web.api_client import start
from tests.web.sse_client import StreamReader, strict_json

pytestmark = pytest.mark.both_backends

TYPE = "Input should be a valid number, unable to parse string as a number"


def body_of(response):
    return strict_json(response.get_data(as_text=True))


def slow(epochs=1000, epochs_per_second=20):
    return {"training": {"epochs": epochs, "epochs_per_second": epochs_per_second}}


def finish(client, run):
    """Read the run's stream to its end; the list of event names."""
    reader = StreamReader(client.get(run["events_url"]))
    try:
        return [message.event for message in reader.events()]
    finally:
        reader.close()


def test_post_runs_creates_a_run(client):
    response = client.post("/api/runs", json={"optimizer": {"name": "momentum"}})
    assert response.status_code == 201
    run = body_of(response)
    assert set(run) >= {"id", "events_url", "config"}
    assert run["events_url"] == f"/api/runs/{run['id']}/events"
    assert response.headers["Location"] == f"/api/runs/{run['id']}"
    assert run["config"]["optimizer"]["name"] == "momentum"
    assert run["config"]["training"]["epochs"] == 200  # defaults filled in


BAD_CONFIGS = [
    ({"optimizer": {"learning_rate": "fast"}}, [("optimizer.learning_rate", TYPE)]),
    ({"seed": 1.5}, [("seed", "Input should be a valid integer, got a number with a fractional part")]),
    ({"training": {"batch_size": None}}, [("training.batch_size", "Input should be a valid integer")]),
    ({"optimizer": {"beta1": 1.5}}, [("optimizer.beta1", "Input should be less than 1")]),
    ({"training": {"epochs": 0}}, [("training.epochs", "Input should be greater than or equal to 1")]),
    ({"model": {"hidden": [{"units": 100000}]}},
     [("model.hidden.0.units", "Input should be less than or equal to 512")]),
    ({"model": {"hidden": [{}, {}, {"keep_prob": 0}]}},
     [("model.hidden.2.keep_prob", "Input should be greater than 0")]),
    ({"optimizer": {"learning_rate": -1, "beta2": 2}},
     [("optimizer.learning_rate", "Input should be greater than 0"),
      ("optimizer.beta2", "Input should be less than 1")]),
    ({"colour": "red"}, [("colour", "Extra inputs are not permitted")]),
    ({"optimizer": {"nesterov": True}}, [("optimizer.nesterov", "Extra inputs are not permitted")]),
    ({"data": {"dataset": "mnist"}},
     [("data.dataset", "Input should be 'circles', 'moons', 'xor', 'spiral', 'gaussian', 'digits' "
                       "or upload:<id>")]),
    ({"optimizer": {"name": "sgd"}},
     [("optimizer.name", "Input should be 'gd', 'momentum', 'rmsprop' or 'adam'")]),
    ({"model": {"hidden": [{"activation": "swish"}]}},
     [("model.hidden.0.activation", "Input should be 'relu', 'leaky_relu', 'tanh', 'sigmoid' or 'linear'")]),
    ({"model": {"hidden": [{}] * 17}},
     [("model.hidden", "List should have at most 16 items after validation, not 17")]),
    ({"data": {"split": {"train": 0.5, "dev": 0.2, "test": 0.2}}},
     [("data.split", "train + dev + test must sum to 1, got 0.9")]),
    ([1, 2], [("", "the config must be a JSON object")]),
]


@pytest.mark.parametrize(("config", "details"), BAD_CONFIGS, ids=lambda value: json.dumps(value)[:40])
def test_bad_configs_get_400_naming_every_field(client, config, details):
    response = client.post("/api/runs", json=config)
    assert response.status_code == 400
    assert body_of(response) == {"error": "invalid configuration",
                                 "details": [{"loc": loc, "msg": msg} for loc, msg in details]}


def test_nan_in_a_config_is_rejected(client):
    response = client.post("/api/runs", data='{"optimizer": {"learning_rate": NaN}}',
                           content_type="application/json")
    assert response.status_code == 400
    assert body_of(response)["details"] == [{"loc": "optimizer.learning_rate",
                                             "msg": "Input should be a finite number"}]


def test_a_non_json_body_gets_415(client):
    response = client.post("/api/runs", data="epochs=3", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert body_of(response) == {
        "error": "the body must be JSON, sent with Content-Type: application/json", "details": []}


def test_malformed_json_gets_400(client):
    response = client.post("/api/runs", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert body_of(response) == {"error": "the body is not valid JSON", "details": []}


def test_an_oversized_body_gets_413(make_app):
    client = make_app(LIMITS={"max_body_bytes": 1000}).test_client()
    response = client.post("/api/runs", data=json.dumps({"seed": 1, "pad": "x" * 2000}),
                           content_type="application/json")
    assert response.status_code == 413
    assert body_of(response) == {"error": "the request body is larger than the limit of 1000 bytes",
                                 "details": []}


def test_unknown_routes_and_runs_get_404_json(client):
    for path in ("/api/runs/no-such-run", "/api/runs/no-such-run/events", "/api/nothing"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert body_of(response)["error"]
    response = client.post("/api/runs/no-such-run/control", json={"action": "pause"})
    assert response.status_code == 404
    assert body_of(response) == {"error": "no run with this id (it never existed or has expired)",
                                 "details": []}


def test_wrong_method_gets_405_with_allow(client):
    response = client.delete("/api/runs")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert body_of(response) == {"error": "method DELETE is not allowed here", "details": []}


def test_capacity_gives_429_with_retry_after(make_app, health_parts):
    client = make_app(LIMITS={"max_concurrent_runs": 2, "max_runs_per_client": 5}).test_client()
    start(client, slow())
    start(client, slow())
    response = client.post("/api/runs", json=slow())
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert body_of(response)["error"] == "the service is running its maximum of 2 runs"
    health = client.get("/healthz")
    assert health.status_code == 503
    assert body_of(health) == {"status": "full", "runs": 2, "capacity": 2, **health_parts}


def test_per_client_capacity_counts_remote_addresses(make_app):
    client = make_app(LIMITS={"max_runs_per_client": 1}).test_client()
    start(client, slow(), environ_base={"REMOTE_ADDR": "10.0.0.1"})
    refused = client.post("/api/runs", json=slow(), environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    start(client, slow(), environ_base={"REMOTE_ADDR": "10.0.0.2"})


def test_trusted_proxies_decide_the_client_address(make_app):
    client = make_app(LIMITS={"max_runs_per_client": 1}, TRUSTED_PROXY_COUNT=1).test_client()
    start(client, slow(), headers={"X-Forwarded-For": "203.0.113.5"})
    refused = client.post("/api/runs", json=slow(), headers={"X-Forwarded-For": "203.0.113.5"})
    assert refused.status_code == 429
    start(client, slow(), headers={"X-Forwarded-For": "203.0.113.6"})


def test_forwarded_for_is_ignored_without_trusted_proxies(make_app):
    client = make_app(LIMITS={"max_runs_per_client": 1}).test_client()
    start(client, slow(), headers={"X-Forwarded-For": "203.0.113.7"})
    forged = client.post("/api/runs", json=slow(), headers={"X-Forwarded-For": "203.0.113.8"})
    assert forged.status_code == 429


def test_blas_threads_default_to_one_but_respect_the_operator(monkeypatch):
    from server.web import BLAS_THREAD_VARIABLES, pin_blas_threads

    for variable in BLAS_THREAD_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    pin_blas_threads()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1" and os.environ["MKL_NUM_THREADS"] == "1"
    assert os.environ["OMP_NUM_THREADS"] == "4"


def test_healthz_reports_load(client, health_parts):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert body_of(response) == {"status": "ok", "runs": 0, "capacity": 48, **health_parts}
    start(client, slow())
    assert body_of(client.get("/healthz"))["runs"] == 1


def test_status_of_a_run(client):
    run = start(client, {"training": {"epochs": 3}})
    assert finish(client, run)[-1] == "done"
    response = client.get(f"/api/runs/{run['id']}")
    assert response.status_code == 200
    status = body_of(response)
    assert status["id"] == run["id"] and status["status"] == "done"
    assert status["config"] == run["config"]
    assert status["latest"]["epoch"] == 3 and status["latest"]["done"]["reason"] == "completed"


@pytest.mark.parametrize(("action", "status"),
                         [("pause", "paused"), ("resume", "running"), ("stop", "running")])
def test_controls_answer_with_the_run_status(client, action, status):
    run = start(client, slow())
    response = client.post(f"/api/runs/{run['id']}/control", json={"action": action})
    assert response.status_code == 200
    body = body_of(response)
    assert body["id"] == run["id"] and body["status"] == status
    assert body["stop_requested"] is (action == "stop")


def test_update_answers_with_the_run_status(client):
    run = start(client, slow())
    response = client.post(f"/api/runs/{run['id']}/control",
                           json={"action": "update", "config": {"training": {"epochs_per_second": 40}}})
    assert response.status_code == 200
    assert body_of(response)["epochs_per_second"] == 40


BAD_CONTROLS = [
    ({"action": "explode"}, [("action", "must be one of pause, resume, step, stop, update")]),
    ({}, [("action", "must be one of pause, resume, step, stop, update (missing)")]),
    ({"action": "pause", "force": True}, [("force", "unexpected field")]),
    ({"action": "update"}, [("config", "an update needs the partial config to apply")]),
    ({"action": "stop", "config": {}}, [("config", "only an update takes a config, not stop")]),
]


@pytest.mark.parametrize(("control", "details"), BAD_CONTROLS, ids=lambda value: json.dumps(value)[:40])
def test_bad_controls_get_400(client, control, details):
    run = start(client, slow())
    response = client.post(f"/api/runs/{run['id']}/control", json=control)
    assert response.status_code == 400
    assert body_of(response) == {"error": "invalid control",
                                 "details": [{"loc": loc, "msg": msg} for loc, msg in details]}


BAD_UPDATES = [
    ({"optimizer": {"learning_rate": 0}},
     [("config.optimizer.learning_rate", "Input should be greater than 0")]),
    ({"optimizer": {"name": "gd"}}, [("config.optimizer.name", "Extra inputs are not permitted")]),
    ({"model": {"hidden": [{}, {"keep_prob": 0.5}]}},
     [("config.model.hidden", "the network has 1 hidden layers")]),
    ({}, [("config", "the update changes nothing")]),
    ("fast", [("config", "the update must be a JSON object")]),
]


@pytest.mark.parametrize(("update", "details"), BAD_UPDATES, ids=lambda value: json.dumps(value)[:40])
def test_bad_updates_get_400_with_config_locations(client, update, details):
    run = start(client, slow())
    response = client.post(f"/api/runs/{run['id']}/control", json={"action": "update", "config": update})
    assert response.status_code == 400
    assert body_of(response) == {"error": "invalid update",
                                 "details": [{"loc": loc, "msg": msg} for loc, msg in details]}


def test_controls_that_make_no_sense_get_409(client):
    run = start(client, slow())
    step = client.post(f"/api/runs/{run['id']}/control", json={"action": "step"})
    assert step.status_code == 409
    assert body_of(step)["error"] == "step advances a paused run by one epoch; pause it first"

    finished = start(client, {"training": {"epochs": 2}})
    finish(client, finished)
    for control in ({"action": "resume"}, {"action": "pause"}, {"action": "stop"},
                    {"action": "update", "config": {"optimizer": {"learning_rate": 0.1}}}):
        response = client.post(f"/api/runs/{finished['id']}/control", json=control)
        assert response.status_code == 409, control
        assert body_of(response)["error"].startswith("the run has already ended (done)")


def test_control_needs_a_json_body(client):
    run = start(client, slow())
    response = client.post(f"/api/runs/{run['id']}/control", data="pause")
    assert response.status_code == 415
    response = client.post(f"/api/runs/{run['id']}/control", json=["pause"])
    assert response.status_code == 400
    assert body_of(response)["details"] == [{"loc": "", "msg": "the body must be a JSON object"}]


def test_schema_is_the_config_json_schema(client):
    response = client.get("/api/schema")
    assert response.status_code == 200
    schema = body_of(response)
    assert schema["title"] == "RunConfig"
    assert set(schema["properties"]) == {"seed", "data", "model", "regularization", "optimizer", "schedule",
                                         "training"}


def test_gradcheck_rejects_bad_requests(client):
    response = client.post("/api/gradcheck",
                           json={"config": {"optimizer": {"beta1": 2}}, "inject_bug": "yes"})
    assert response.status_code == 400
    assert body_of(response) == {"error": "invalid configuration", "details": [
        {"loc": "inject_bug", "msg": "must be true or false"},
        {"loc": "config.optimizer.beta1", "msg": "Input should be less than 1"}]}
    bare = client.post("/api/gradcheck", json={"colour": "red"})
    assert bare.status_code == 400
    assert body_of(bare)["details"] == [{"loc": "colour", "msg": "Extra inputs are not permitted"}]
    assert client.post("/api/gradcheck", data="x").status_code == 415


def test_gradcheck_refuses_networks_too_large_to_check(make_app):
    client = make_app(GRADCHECK_MAX_PARAMETERS=100).test_client()
    response = client.post("/api/gradcheck", json={"model": {"hidden": [{"units": 64}]}})
    assert response.status_code == 400
    assert body_of(response)["details"] == [
        {"loc": "model.hidden", "msg": "the network has 257 parameters; a gradient check takes at most 100"}]


def test_gradient_checks_beyond_the_concurrency_limit_get_429(make_app):
    app = make_app()
    slots = app.extensions["gradcheck_slots"]
    for _ in range(app.config["GRADCHECK_CONCURRENCY"]):
        assert slots.acquire(blocking=False)  # as if checks were running
    response = app.test_client().post("/api/gradcheck", json={})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert body_of(response)["error"] == "gradient checks are busy; try again shortly"


def test_count_parameters_follows_the_network_shape():
    from server.engine.config import parse_config
    from server.web.api import count_parameters

    assert count_parameters(parse_config({})) == 2 * 8 + 8 + 8 + 1
    digits = parse_config({"data": {"dataset": "digits"},
                           "model": {"hidden": [{"units": 16, "batch_norm": True}, {"units": 4}]}})
    assert count_parameters(digits) == (64 * 16 + 2 * 16) + (16 * 4 + 4) + (4 * 10 + 10)
    assert count_parameters(parse_config({"model": {"hidden": []}})) == 3


def test_page_responses_carry_a_strict_content_security_policy(client):
    page = client.get("/")
    assert page.status_code == 200
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy
    assert "unsafe-eval" not in policy and "frame-ancestors 'self'" in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert page.headers["X-Frame-Options"] == "SAMEORIGIN"
    embed = client.get("/embed")
    assert embed.status_code == 200
    assert embed.headers["Content-Security-Policy"].endswith("frame-ancestors *")
    assert "X-Frame-Options" not in embed.headers
    lab = client.get("/labs/optimizers")
    assert lab.status_code == 200
    assert lab.headers["Content-Security-Policy"].endswith("frame-ancestors *")


def test_frame_ancestors_come_from_configuration(make_app):
    client = make_app(FRAME_ANCESTORS_EMBED="https://course.example.org",
                      FRAME_ANCESTORS="'none'").test_client()
    assert client.get("/embed").headers["Content-Security-Policy"].endswith(
        "frame-ancestors https://course.example.org")
    assert client.get("/").headers["Content-Security-Policy"].endswith("frame-ancestors 'none'")


def test_api_responses_cannot_be_framed_or_cached_and_set_no_cookies(client):
    run = start(client, {"training": {"epochs": 2}})
    for response in (client.get("/healthz"), client.get(f"/api/runs/{run['id']}"),
                     client.post("/api/runs", json={"seed": -1})):
        assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Set-Cookie" not in response.headers


def test_an_unexpected_error_is_a_json_500(make_app):
    app = make_app()

    class BrokenManager:
        def load(self):
            raise RuntimeError("boom")

    app.extensions["run_manager"], real = BrokenManager(), app.extensions["run_manager"]
    try:
        response = app.test_client().get("/healthz")
    finally:
        app.extensions["run_manager"] = real
    assert response.status_code == 500
    assert body_of(response) == {"error": "internal server error", "details": []}
