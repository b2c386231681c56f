"""The searches HTTP API, with trials on threads running stand-in trial functions."""

import math

import pytest

from tests.search import trials
from tests.search.support import RATE
from tests.web.sse_client import StreamReader

SEARCH = {"space": {"optimizer.learning_rate": RATE}, "trials": 6, "workers": 2}


@pytest.fixture
def client(make_app):
    return make_app().test_client()


def finished(client, body, timeout=10.0):
    """Wait for the search to end (through the manager), then return its status."""
    client.application.extensions["search_manager"].get(body["id"]).join(timeout)
    response = client.get(body["status_url"])
    assert response.status_code == 200
    assert response.json["status"] == "done"
    return response.json


def start(client, definition=SEARCH):
    response = client.post("/api/searches", json=definition)
    assert response.status_code == 201, response.json
    return response.json


def test_post_searches_starts_a_search(client):
    response = client.post("/api/searches", json=SEARCH)
    assert response.status_code == 201
    body = response.json
    search_id = body["id"]
    assert len(search_id) >= 20
    assert body["events_url"] == f"/api/searches/{search_id}/events"
    assert body["control_url"] == f"/api/searches/{search_id}/control"
    assert response.headers["Location"] == body["status_url"] == f"/api/searches/{search_id}"
    assert body["planned_trials"] == 6 and body["workers"] == 2 and body["parent"] is None
    assert body["definition"]["space"] == SEARCH["space"]
    assert body["definition"]["base"]["optimizer"]["name"] == "adam"


def test_the_status_lists_trials_and_the_best(client):
    status = finished(client, start(client))
    assert status["reason"] == "completed"
    assert [t["index"] for t in status["trials"]] == list(range(6))
    assert all(t["status"] == "completed" for t in status["trials"])
    assert status["best"]["value"] == max(t["dev_accuracy"] for t in status["trials"])
    assert status["trials"][0]["run_config"]["optimizer"]["learning_rate"] == \
        status["trials"][0]["config"]["optimizer.learning_rate"]


def test_the_stream_replays_every_event_in_order(client):
    body = start(client)
    finished(client, body)
    messages = StreamReader(client.get(body["events_url"])).events()
    names = [m.event for m in messages]
    assert names[0] == "search" and names[-1] == "done"
    assert names.count("trial") == 12 and "best" in names
    assert [m.id for m in messages] == list(range(1, len(messages) + 1))
    assert messages[0].data["id"] == body["id"]
    finished_trials = [m.data for m in messages if m.event == "trial" and m.data["status"] != "running"]
    assert {"index", "config", "status", "dev_accuracy", "dev_loss", "train_accuracy", "epochs_run",
            "elapsed_s"} <= set(finished_trials[0])


def test_the_stream_resumes_after_last_event_id(client):
    body = start(client)
    finished(client, body)
    everything = StreamReader(client.get(body["events_url"])).events()
    resumed = StreamReader(client.get(body["events_url"], headers={"Last-Event-ID": "5"})).events()
    assert [m.id for m in resumed] == [m.id for m in everything[5:]]
    since = StreamReader(client.get(f"{body['events_url']}?since=7")).events()
    assert [m.id for m in since] == [m.id for m in everything[7:]]
    # Everything delivered: 204 tells EventSource not to reconnect.
    last = str(everything[-1].id)
    assert client.get(body["events_url"], headers={"Last-Event-ID": last}).status_code == 204


def test_a_bad_event_id_gets_400(client):
    body = start(client)
    response = client.get(body["events_url"], headers={"Last-Event-ID": "abc"})
    assert response.status_code == 400
    assert response.json == {"error": "invalid event id", "details": [
        {"loc": "Last-Event-ID", "msg": "must be a non-negative integer, got 'abc'"}]}


def test_a_bad_definition_gets_400_naming_the_field(client):
    response = client.post("/api/searches", json={"space": {"optimizer.lr": RATE}, "trials": 0})
    assert response.status_code == 400
    assert response.json == {"error": "invalid search", "details": [
        {"loc": "trials", "msg": "Input should be greater than or equal to 1"}]}
    response = client.post("/api/searches", json={"space": {"optimizer.lr": RATE}})
    assert response.status_code == 400
    assert response.json == {"error": "invalid search", "details": [
        {"loc": "space.optimizer.lr", "msg": "'lr' is not a field of optimizer "
                                             "(known: name, learning_rate, beta, beta1, beta2, epsilon)"}]}


def test_too_many_trials_gets_400_with_the_service_limit(make_app):
    client = make_app(LIMITS={"max_search_trials": 10}).test_client()
    response = client.post("/api/searches", json={**SEARCH, "trials": 11})
    assert response.status_code == 400
    assert response.json == {"error": "invalid search",
                             "details": [{"loc": "trials", "msg": "at most 10 trials per search"}]}


def test_a_non_json_body_gets_415_and_broken_json_400(client):
    response = client.post("/api/searches", data="trials=3")
    assert response.status_code == 415
    assert response.json == {"error": "the body must be JSON, sent with Content-Type: application/json",
                             "details": []}
    response = client.post("/api/searches", data="{", content_type="application/json")
    assert response.status_code == 400
    assert response.json == {"error": "the body is not valid JSON", "details": []}


def test_searches_beyond_capacity_get_429_with_retry_after(make_app):
    client = make_app(trials.until_stopped, LIMITS={"max_concurrent_searches": 1}).test_client()
    body = start(client)
    response = client.post("/api/searches", json=SEARCH)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "10"
    assert response.json == {"error": "the service runs at most 1 searches at once; try again later",
                             "details": []}
    assert client.post(body["control_url"], json={"action": "stop"}).status_code == 200


@pytest.mark.parametrize("path", ["/api/searches/nope", "/api/searches/nope/events"])
def test_unknown_searches_get_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.json == {"error": "no search with this id (it never existed or has expired)",
                             "details": []}


def test_control_of_an_unknown_search_gets_404(client):
    response = client.post("/api/searches/nope/control", json={"action": "stop"})
    assert response.status_code == 404


def test_stop_answers_with_the_status_and_ends_the_search(make_app):
    client = make_app(trials.until_stopped).test_client()
    body = start(client)
    response = client.post(body["control_url"], json={"action": "stop"})
    assert response.status_code == 200
    assert response.json["id"] == body["id"]
    assert response.json["status"] in ("stopping", "done")
    status = finished(client, body)
    assert status["reason"] == "stopped"


@pytest.mark.parametrize(("control", "details"), [
    ({"action": "pause"}, [{"loc": "action", "msg": "must be one of stop, zoom"}]),
    ({}, [{"loc": "action", "msg": "must be one of stop, zoom (missing)"}]),
    ({"action": "zoom", "top_k": 0}, [{"loc": "top_k", "msg": "must be a positive integer, got 0"}]),
    ({"action": "zoom", "top_k": "3"}, [{"loc": "top_k", "msg": "must be a positive integer, got '3'"}]),
    ({"action": "stop", "top_k": 3}, [{"loc": "top_k", "msg": "only zoom takes top_k"}]),
    ({"action": "stop", "force": True}, [{"loc": "force", "msg": "unexpected field"}]),
])
def test_bad_controls_get_400(client, control, details):
    body = start(client)
    response = client.post(body["control_url"], json=control)
    assert response.status_code == 400
    assert response.json == {"error": "invalid control", "details": details}


def test_zoom_before_any_trial_finished_gets_409(make_app):
    client = make_app(trials.until_stopped).test_client()
    body = start(client)
    response = client.post(body["control_url"], json={"action": "zoom", "top_k": 3})
    assert response.status_code == 409
    assert response.json == {"error": "no trial has finished with a value of the objective yet",
                             "details": []}
    client.post(body["control_url"], json={"action": "stop"})


def test_zoom_starts_a_narrower_search(client):
    body = start(client, {**SEARCH, "trials": 8})
    status = finished(client, body)
    response = client.post(body["control_url"], json={"action": "zoom", "top_k": 2})
    assert response.status_code == 201
    zoomed = response.json
    assert zoomed["id"] != body["id"]
    assert zoomed["parent"]["id"] == body["id"] and zoomed["parent"]["top_k"] == 2
    narrowed = zoomed["definition"]["space"]["optimizer.learning_rate"]
    assert narrowed["distribution"] == "log_uniform"
    best_rate = status["best"]["config"]["optimizer.learning_rate"]
    assert 1e-4 <= narrowed["low"] <= best_rate <= narrowed["high"] <= 1
    assert (narrowed["low"], narrowed["high"]) != (1e-4, 1.0)
    finished(client, zoomed)


def test_presets_show_grid_against_random(client):
    response = client.get("/api/searches/presets")
    assert response.status_code == 200
    presets = {preset["id"]: preset for preset in response.json}
    assert set(presets) == {"one-that-matters-grid", "one-that-matters-random"}
    distinct = {}
    for preset_id, preset in presets.items():
        plan = client.post("/api/searches/plan", json=preset["definition"])
        assert plan.status_code == 200
        rates = [t["config"]["optimizer.learning_rate"] for t in plan.json["trials"]]
        assert len(rates) == 9
        distinct[preset_id] = len(set(rates))
    # Nine trials each; only the learning rate matters: the grid tries 3 values, random search 9.
    assert distinct == {"one-that-matters-grid": 3, "one-that-matters-random": 9}


def test_a_plan_of_a_bad_definition_gets_400(client):
    response = client.post("/api/searches/plan", json={"space": {"optimizer.name": RATE}})
    assert response.status_code == 400
    assert response.json["details"] == [{"loc": "space.optimizer.name.distribution",
                                         "msg": "'log_uniform' does not suit this field; use one of choice"}]


def test_the_search_page_loads_its_modules_without_inline_script(client):
    response = client.get("/search")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<script type="module" src="/static/search/main.js"></script>' in html
    assert '<script src="/vendor/plotly.min.js" defer></script>' in html
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert 'data-testid="search-scatter"' in html and 'data-testid="search-parcoords"' in html


def test_nan_metrics_never_win_and_stream_as_null(make_app):
    client = make_app(trials.nan_when_hot).test_client()
    body = start(client, {**SEARCH, "trials": 12, "seed": 1})
    status = finished(client, body)
    hot = [t for t in status["trials"] if t["config"]["optimizer.learning_rate"] > 0.1]
    assert hot and all(t["dev_accuracy"] is None and t["dev_loss"] is None for t in hot)
    assert status["best"]["config"]["optimizer.learning_rate"] <= 0.1
    messages = StreamReader(client.get(body["events_url"])).events()  # strict JSON: NaN would raise
    assert messages[-1].event == "done"


def test_a_search_holds_at_most_the_stream_limit(make_app):
    client = make_app(trials.until_stopped, SSE_STREAMS_PER_RUN=2).test_client()
    body = start(client)
    streams = [client.get(body["events_url"]) for _ in range(2)]
    assert [s.status_code for s in streams] == [200, 200]
    refused = client.get(body["events_url"])
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "5"
    assert refused.json == {"error": "this search already has 2 open streams", "details": []}
    streams[0].close()
    again = client.get(body["events_url"])
    assert again.status_code == 200
    for stream in (streams[1], again):
        stream.close()
    client.post(body["control_url"], json={"action": "stop"})


def test_one_client_runs_one_search_at_a_time(make_app):
    client = make_app(trials.until_stopped).test_client()
    first = start(client)
    response = client.post("/api/searches", json=SEARCH)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "10"
    assert response.json == {"error": "you already run 1 search; stop it or let it finish first",
                             "details": []}
    other = client.post("/api/searches", json=SEARCH, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert other.status_code == 201
    for body in (first, other.json):
        assert client.post(body["control_url"], json={"action": "stop"}).status_code == 200


def test_a_control_that_is_not_an_object_gets_400(client):
    body = start(client)
    response = client.post(body["control_url"], json=["stop"])
    assert response.status_code == 400
    assert response.json == {"error": "invalid control",
                             "details": [{"loc": "", "msg": "the body must be a JSON object"}]}


def saturated(task: dict, should_stop) -> dict:
    """Accuracy saturates (every rate within a decade of 0.01 scores 1.0); the loss still peaks at 0.01."""
    distance = abs(math.log10(task["config"]["optimizer"]["learning_rate"]) + 2)
    return {"status": "completed", "epochs_run": 1, "train_loss": distance, "train_accuracy": 1.0,
            "dev_loss": 0.05 + distance / 4, "dev_accuracy": 1.0 if distance < 1 else 0.9}


def test_trials_tied_on_accuracy_are_ranked_by_their_dev_loss(make_app):
    client = make_app(saturated).test_client()
    body = start(client, {**SEARCH, "trials": 12, "seed": 2})
    status = finished(client, body)
    completed = status["trials"]
    tied = [t for t in completed if t["dev_accuracy"] == 1.0]
    assert len(tied) >= 3  # the case to break: several trials at the top accuracy
    lowest_loss = min(tied, key=lambda t: t["dev_loss"])
    assert status["best"]["index"] == lowest_loss["index"]
    assert (status["best"]["objective"], status["best"]["value"], status["best"]["tie_break"]) == \
        ("dev_accuracy", 1.0, "dev_loss")
    # The best events name strict improvements only, ending at the winner.
    messages = StreamReader(client.get(body["events_url"])).events()
    bests = [m.data for m in messages if m.event == "best"]
    keys = [(-b["dev_accuracy"], b["dev_loss"]) for b in bests]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys)
    assert bests[-1]["index"] == lowest_loss["index"]

    # Zoom takes the top trials in that order: accuracy first, then dev loss.
    response = client.post(body["control_url"], json={"action": "zoom", "top_k": 3})
    assert response.status_code == 201
    expected = sorted(completed, key=lambda t: (-t["dev_accuracy"], t["dev_loss"]))[:3]
    assert response.json["parent"]["trials"] == [t["index"] for t in expected]
    finished(client, response.json)


def test_trials_tied_on_dev_loss_are_ranked_by_their_accuracy(make_app):
    def loss_ties(task, should_stop):
        rate = task["config"]["optimizer"]["learning_rate"]
        return {"status": "completed", "epochs_run": 1, "dev_loss": 0.3, "dev_accuracy": 0.5 + rate / 4}

    client = make_app(loss_ties).test_client()
    status = finished(client, start(client, {**SEARCH, "objective": "dev_loss"}))
    rates = {t["index"]: t["config"]["optimizer.learning_rate"] for t in status["trials"]}
    assert status["best"]["index"] == max(rates, key=rates.get)
    assert status["best"]["tie_break"] == "dev_accuracy"


def test_full_ties_keep_the_first_trial_to_finish_with_that_score(make_app):
    client = make_app(trials.flat).test_client()
    body = start(client)
    status = finished(client, body)
    messages = StreamReader(client.get(body["events_url"])).events()
    first_finished = next(m.data for m in messages if m.event == "trial" and m.data["status"] == "completed")
    assert [m.data["index"] for m in messages if m.event == "best"] == [first_finished["index"]]
    assert status["best"]["index"] == first_finished["index"]
    response = client.post(body["control_url"], json={"action": "zoom", "top_k": 2})
    assert response.status_code == 201
    assert response.json["parent"]["trials"][0] == first_finished["index"]
    finished(client, response.json)
