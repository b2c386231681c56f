"""Hostile input at the edge of the web layer: deep nesting, streamed bodies past the limit, loose event ids.

Each is a clear 4xx in the API's error shape, never a 500, a truncated body
taken as whole, or a stream that waits for an id that does not exist.
"""

from __future__ import annotations

import io
import json
from functools import partial

import pytest

from server.search.executor import ThreadTrialExecutor
from tests.search import trials
from tests.web.api_client import start
from tests.web.sse_client import StreamReader

LIMIT = 64 * 1024
SEARCH = {"space": {"optimizer.learning_rate": {"distribution": "log_uniform", "low": 1e-4, "high": 1.0}},
          "trials": 2, "workers": 1}
SLOW_RUN = {"training": {"epochs": 1000, "epochs_per_second": 20}}
LAB = "/api/labs/optimizers/events?surface=saddle&steps=20&steps_per_second=2000"


@pytest.fixture
def client(make_app):
    app = make_app(SEARCH_EXECUTOR=partial(ThreadTrialExecutor, trial_function=trials.until_stopped))
    yield app.test_client()
    app.extensions["search_manager"].shutdown()


def json_routes(client) -> list[str]:
    """Every route that reads a JSON body, with the run and search it needs."""
    run = start(client, SLOW_RUN)
    search = client.post("/api/searches", json=SEARCH)
    assert search.status_code == 201, search.get_json()
    return ["/api/runs", run["control_url"], "/api/gradcheck", "/api/searches", "/api/searches/plan",
            search.get_json()["control_url"]]


def post_raw(client, url: str, body: str):
    return client.post(url, data=body, content_type="application/json")


@pytest.mark.parametrize("depth", [1000, 33])
def test_deeply_nested_bodies_are_a_400_on_every_json_route(client, depth):
    for url in json_routes(client):
        response = post_raw(client, url, "[" * depth + "]" * depth)
        assert response.status_code == 400, url
        assert response.get_json() == {"error": "the body is nested too deeply", "details": [
            {"loc": "", "msg": "lists and objects may nest at most 32 levels"}]}, url
        nested_object = post_raw(client, url, '{"a":' * depth + "1" + "}" * depth)
        assert nested_object.status_code == 400, url


def test_nesting_up_to_the_limit_reaches_validation(client):
    body = {"seed": 0, "data": {"split": {"train": [[[[[[[[0.5]]]]]]]]}}}
    response = client.post("/api/runs", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid configuration"
    assert response.get_json()["details"][0]["loc"] == "data.split.train"


def post_chunked(client, body: bytes):
    """A body sent with ``Transfer-Encoding: chunked``: no Content-Length, the server ends the stream."""
    return client.post("/api/runs", input_stream=io.BytesIO(body),
                       headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True})


def test_a_chunked_body_past_the_limit_is_a_413_not_its_first_64_kib(client):
    body = b"{}" + b" " * LIMIT  # its first 65,536 bytes alone would parse as a valid config
    response = post_chunked(client, body)
    assert response.status_code == 413
    assert response.get_json() == {"error": f"the request body is larger than the limit of {LIMIT} bytes",
                                   "details": []}
    assert client.get("/healthz").get_json()["runs"] == 0


def test_chunked_bodies_up_to_the_limit_are_read_whole(client):
    exactly = post_chunked(client, b"{}" + b" " * (LIMIT - 2))
    assert exactly.status_code == 201, exactly.get_json()
    small = post_chunked(client, json.dumps({"training": {"epochs": 3}}).encode())
    assert small.status_code == 201
    assert small.get_json()["config"]["training"]["epochs"] == 3


LOOSE_IDS = ["1_000", "+5", " 5 ", "\u0663", "5.0", "0x5", "1e3", "5\n", "-0", "9" * 19]


def finished_run(client) -> dict:
    run = start(client, {"training": {"epochs": 20}})
    assert StreamReader(client.get(run["events_url"])).events()[-1].event == "done"
    return run


@pytest.mark.parametrize("raw", LOOSE_IDS)
def test_an_event_id_is_ascii_digits_only_in_the_query(client, raw):
    run = finished_run(client)
    response = client.get(run["events_url"], query_string={"since": raw})
    assert response.status_code == 400
    [detail] = response.get_json()["details"]
    assert detail["loc"] == "since"
    assert detail["msg"].startswith("must be a non-negative integer, got ")


@pytest.mark.parametrize("raw", [raw for raw in LOOSE_IDS if "\n" not in raw])  # no header holds a line break
def test_an_event_id_is_ascii_digits_only_in_the_header(client, raw):
    run = finished_run(client)
    # A header arrives as Latin-1 text, so other scripts' digits come as their UTF-8 bytes.
    header = raw.encode().decode("latin-1")
    response = client.get(run["events_url"], headers={"Last-Event-ID": header})
    assert response.status_code == 400
    [detail] = response.get_json()["details"]
    assert detail["loc"] == "Last-Event-ID"
    assert detail["msg"].startswith("must be a non-negative integer, got ")


def test_a_future_id_on_a_live_run_is_a_400_for_the_query_and_the_header(client):
    run = start(client, SLOW_RUN)
    latest = client.get(run["status_url"]).get_json()["last_event_id"]
    for request in ({"query_string": {"since": str(latest + 1000)}},
                    {"headers": {"Last-Event-ID": str(latest + 1000)}}):
        response = client.get(run["events_url"], **request)
        assert response.status_code == 400
        [detail] = response.get_json()["details"]
        assert detail["msg"].startswith(f"{latest + 1000} is after the latest event, ")
    current = client.get(run["events_url"], query_string={"since": str(latest)})
    assert current.status_code == 200  # the newest id is fine: the stream follows from there
    current.close()
    client.post(run["control_url"], json={"action": "stop"})


def test_a_future_id_on_a_live_search_or_a_lab_race_is_a_400(client):
    search = client.post("/api/searches", json=SEARCH).get_json()
    response = client.get(search["events_url"], headers={"Last-Event-ID": "100000"})
    assert response.status_code == 400
    assert response.get_json()["details"][0]["loc"] == "Last-Event-ID"
    client.post(search["control_url"], json={"action": "stop"})
    last = StreamReader(client.get(LAB)).events()[-1].id
    race = client.get(f"{LAB}&since={last + 1}")
    assert race.status_code == 400
    assert race.get_json()["details"][0]["msg"].startswith(f"{last + 1} is after the latest event, {last}")
