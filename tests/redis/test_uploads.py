"""Uploaded data sets on the Redis backend: any instance sees them, a worker process trains them."""

from __future__ import annotations

import csv
import io

import numpy as np

from server.engine.uploads import UploadedData
from server.runs.redis_uploads import RedisUploads, UploadBudget
from tests.redis.processes import redis_environment, started, worker_command
from tests.waiting import wait_until
from tests.web.api_client import start
from tests.web.sse_client import StreamReader
from tests.web.test_datasets import table, upload


def test_an_upload_to_one_instance_is_trained_by_a_worker_process_and_exported_from_another(backend):
    first, second = backend.app().test_client(), backend.app().test_client()
    text, X = table(rows=80, classes=("cat", "dog"))
    posted = upload(first, text)
    assert posted.status_code == 201
    info = posted.get_json()
    seen = second.get(f"/api/datasets/{info['id']}")
    assert seen.status_code == 200
    assert seen.get_json()["preview"]["X"] == info["preview"]["X"] == X[:5].tolist()
    assert seen.get_json()["classes"] == ["cat", "dog"]

    config = {"data": {"dataset": info["dataset"], "n_samples": 80},
              "training": {"epochs": 6, "boundary_every": 0}}
    with started(worker_command(concurrency=1), redis_environment(backend.url, backend.prefix)):
        wait_until(lambda: second.get("/healthz").status_code == 200, "the worker alive")
        run = start(second, config)
        reader = StreamReader(first.get(run["events_url"]))
        events = reader.events()
        reader.close()
        small = {"data": config["data"], "model": {"hidden": [{"units": 3}]}}
        check = first.post("/api/gradcheck", json=small)  # computed by the worker, on the upload
        assert check.status_code == 200 and check.get_json()["verdict"] in ("great", "ok")
    assert events[-1].event == "done", events[-1].data
    metrics = [m.data for m in events if m.event == "metrics"]
    assert [row["epoch"] for row in metrics] == list(range(7))

    exported = first.get(f"/api/runs/{run['id']}/export")
    assert exported.status_code == 200
    model = exported.get_json()
    assert model["classes"] == ["cat", "dog"] and model["features"] == ["f1", "f2"]
    assert model["dataset"] == info["dataset"] and len(model["layers"][0]["W"]) == 2
    assert 10 < model["normalization"]["std"][1] < 30  # the file's own scale (its f2 has a spread of 20)
    source = second.get(f"/api/runs/{run['id']}/export?format=pytorch")
    assert source.status_code == 200 and "CLASSES = ['cat', 'dog']" in source.get_data(as_text=True)
    table_rows = list(csv.DictReader(io.StringIO(second.get(f"/api/runs/{run['id']}/metrics.csv")
                                                 .get_data(as_text=True))))
    assert [float(row["train_loss"]) for row in table_rows] == [row["train_loss"] for row in metrics]


def _data(rows: int) -> UploadedData:
    X = np.arange(rows * 2, dtype=np.float64).reshape(rows, 2) / 3
    return UploadedData(X=X, y=np.arange(rows) % 3, classes=("a", 2, "c"), features=("u", "v"))


def test_uploads_in_redis_round_trip_expire_after_their_last_use_and_keep_the_budgets(backend):
    now = [1000.0]
    budget = UploadBudget(ttl_seconds=10, per_client=2, bytes_per_client=10**9, bytes_total=10**9)
    store = RedisUploads(backend.store, budget, clock=lambda: now[0])
    reader = RedisUploads(backend.store, clock=lambda: now[0])  # a worker's: reads only
    data = _data(7)
    key = store.put(data, "client")
    assert len(key) >= 16 and key != store.put(data, "other")
    found = reader.get(key)
    assert np.array_equal(found.X, data.X) and found.X.dtype == np.float64
    assert np.array_equal(found.y, data.y) and found.y.dtype == np.int64
    assert (found.classes, found.features) == (("a", 2, "c"), ("u", "v"))
    assert 0 < backend.store.client.pttl(backend.store.keys.prefix + f"upload:{key}") <= 10_000

    now[0] += 9
    assert reader.get(key) is not None  # a use: ten more seconds
    now[0] += 9
    assert store.get(key) is not None
    now[0] += 10.5
    assert store.get(key) is None and reader.get(key) is None
    assert not backend.store.client.exists(backend.store.keys.prefix + f"upload:{key}")

    first, second = store.put(data, "a"), store.put(data, "a")
    now[0] += 1
    store.get(first)
    third = store.put(data, "a")  # over the client's two: its least recently used goes
    assert store.get(second) is None
    assert store.get(first) is not None and store.get(third) is not None



def test_all_clients_together_keep_within_the_total_budget(backend):
    now = [1000.0]
    data = _data(7)
    store = RedisUploads(backend.store, UploadBudget(100, 10, 10**9, 2 * data.nbytes), clock=lambda: now[0])
    keys = []
    for client in ("x", "y", "z"):
        now[0] += 1
        keys.append(store.put(data, client))
    assert store.get(keys[0]) is None
    assert store.get(keys[1]) is not None and store.get(keys[2]) is not None
    assert int(backend.store.client.get(backend.store.keys.prefix + "uploads:bytes")) == 2 * data.nbytes


def test_a_full_or_unreachable_redis_answers_an_upload_with_503_not_500(backend):
    client = backend.app().test_client()
    text, _ = table(rows=40)
    admin = backend.store.client
    limit = admin.config_get("maxmemory")["maxmemory"]
    admin.config_set("maxmemory", 1)  # below what it holds: every write is refused (noeviction)
    try:
        refused = upload(client, text)
    finally:
        admin.config_set("maxmemory", limit)
    assert refused.status_code == 503 and "Retry-After" in refused.headers
    assert refused.get_json()["error"] == "the run store is full (its maxmemory); try again shortly"
    away = backend.app(REDIS_URL="redis://127.0.0.1:1/0").test_client()  # nothing listens on port 1
    response = away.get("/api/datasets/" + "x" * 22)
    assert response.status_code == 503
    assert response.get_json()["error"].startswith("the run store is unavailable")
