"""Uploaded data sets: POST /api/datasets, its 400s, the store's budgets, and runs on an upload."""

from __future__ import annotations

import numpy as np
import pytest

from server.engine import Trainer, make_data
from server.engine.config import parse_config
from server.web.datasets import DatasetStore
from tests.web.api_client import control, start
from tests.web.sse_client import StreamReader


def table(rows: int = 60, features: int = 2, classes=("a", "b"), seed: int = 0) -> tuple[str, np.ndarray]:
    """CSV text of ``rows`` rows whose class follows the first feature's sign, and its X."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features)) * np.arange(1, features + 1) * 10
    labels = [classes[index % len(classes)] for index in range(rows)]
    if len(classes) == 2:
        labels = [classes[int(value > 0)] for value in X[:, 0]]
    header = ",".join(f"f{index + 1}" for index in range(features)) + ",label"
    lines = [header] + [",".join(repr(float(value)) for value in row) + f",{label}"
                        for row, label in zip(X, labels, strict=True)]
    return "\n".join(lines) + "\n", X


def upload(client, text: str | bytes, content_type: str = "text/csv"):
    return client.post("/api/datasets", data=text, content_type=content_type)


def problem(client, text: str | bytes) -> str:
    response = upload(client, text)
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["details"][0]["loc"] == "body"
    return body["error"]


GOOD_HEADER = "x1,x2,label\n"
GOOD_ROWS = "".join(f"{i},{i * 2},{i % 2}\n" for i in range(30))


def test_an_upload_answers_its_shape_classes_and_a_preview(client):
    text, X = table(rows=80, classes=("cat", "dog"))
    response = upload(client, text)
    assert response.status_code == 201
    body = response.get_json()
    assert body["dataset"] == f"upload:{body['id']}" and len(body["id"]) >= 16
    assert (body["n_samples"], body["n_features"], body["n_classes"]) == (80, 2, 2)
    assert body["classes"] == ["cat", "dog"] and sum(body["class_counts"]) == 80
    assert body["features"] == ["f1", "f2"]
    assert body["preview"]["X"][0] == X[0].tolist()
    again = client.get(f"/api/datasets/{body['id']}")
    assert again.status_code == 200 and again.get_json()["n_samples"] == 80


def test_integer_labels_are_ordered_as_numbers_and_ids_differ(client):
    text = "a,label\n" + "".join(f"{i},{[10, 2, 7][i % 3]}\n" for i in range(30))
    first, second = upload(client, text), upload(client, text)
    assert first.status_code == second.status_code == 201
    assert first.get_json()["classes"] == [2, 7, 10]
    assert first.get_json()["id"] != second.get_json()["id"]


def test_a_byte_order_mark_and_semicolons_with_decimal_commas_are_read(client):
    rows = "".join(f"{i},5;{-i};{'ab'[i % 2]}\n" for i in range(30))
    response = upload(client, "\ufeffx1;x2;label\n".encode() + rows.encode())
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["features"] == ["x1", "x2"] and body["preview"]["X"][1] == [1.5, -1.0]


@pytest.mark.parametrize(("text", "expected"), [
    ("", "the file is empty"),
    ("\n\n  \n", "the file is empty"),
    ("1,2,0\n3,4,1\n", "line 1: the first row must be a header"),
    ("x1,x2,class\n" + GOOD_ROWS, "line 1: the last column must be named 'label', not 'class'"),
    ("label\n0\n1\n", "line 1: the header names one column"),
    ("x1,x1,label\n" + GOOD_ROWS, "line 1: the column name 'x1' appears twice"),
    (GOOD_HEADER + "1,2,0\n3,oops,1\n", "line 3, column x2: 'oops' is not a number"),
    (GOOD_HEADER + "1,2,0\n3,4\n", "line 3: 2 values, but the header has 3 columns"),
    (GOOD_HEADER + "1,2,0\n3,4,1,5\n", "line 3: 4 values, but the header has 3 columns"),
    (GOOD_HEADER + "1,2,0\n\n1,nan,1\n", "line 4, column x2: 'nan' is not a finite number"),
    (GOOD_HEADER + "inf,2,0\n", "line 2, column x1: 'inf' is not a finite number"),
    (GOOD_HEADER + "1,,0\n", "line 2, column x2: the value is missing"),
    (GOOD_HEADER + "1,2,\n", "line 2, column label: the label is missing"),
    (GOOD_HEADER + "".join(f"{i},{i},same\n" for i in range(30)),
     "column label: every row has the label 'same'"),
    (GOOD_HEADER + "".join(f"{i},{i},{i % 11}\n" for i in range(40)), "column label: 11 different labels"),
    (GOOD_HEADER + "".join(f"{i},{i},{i % 2}\n" for i in range(5)), "the file has 5 data rows"),
    ("x1,x2,label\n1,2,1\n" + "".join(f"{i},{i},{'1' if i % 2 else '01'}\n" for i in range(30)),
     "column label: two labels write the same integer differently"),
])
def test_a_bad_file_is_a_400_naming_where(client, text, expected):
    assert problem(client, text).startswith(expected)


def rendered(message) -> str:
    """A detail's ``message`` ({"id", "params"}) filled in as the page does with no translation."""
    params = {name: rendered(value) if isinstance(value, dict) else value
              for name, value in message["params"].items()}
    return message["id"].format(**params)


def test_a_bad_file_says_its_problem_as_a_message_id_and_parameters_for_the_page(problem_body):
    body = problem_body(GOOD_HEADER + "1,2,0\n3,oops,1\n")
    message = body["details"][0]["message"]
    not_a_number = {"id": "'{value}' is not a number", "params": {"value": "oops"}}
    assert message == {"id": "line {line}, column {column}: {problem}",
                       "params": {"line": "3", "column": "x2", "problem": not_a_number}}
    assert rendered(message) == body["error"] == "line 3, column x2: 'oops' is not a number"


@pytest.mark.parametrize("text", [
    "", "1,2,3\n4,5,6\n", GOOD_HEADER + "1,2\n", "x1,x2,label\n" + "1,2,a\n" * 30,
    GOOD_HEADER + "1,nan,0\n", "x,x,label\n1,2,0\n", b"x1,label\n\xff,1\n"])
def test_every_problem_message_renders_to_the_english_error(problem_body, text):
    body = problem_body(text)
    assert rendered(body["details"][0]["message"]) == body["error"]


@pytest.fixture(name="problem_body")
def _problem_body(client):
    def answer(text):
        response = upload(client, text)
        assert response.status_code == 400
        return response.get_json()
    return answer


def test_too_many_rows_and_columns_and_not_utf8_are_400s(client):
    assert problem(client, GOOD_HEADER + "1,2,0\n" * 5001) == (
        "line 5002: the file has more than 5000 data rows")
    wide = ",".join(f"f{i}" for i in range(65)) + ",label\n" + ",".join(["1"] * 65) + ",0\n"
    assert problem(client, wide) == "line 1: the header has 65 feature columns; at most 64"
    assert problem(client, b"x1,label\n\xff\xfe,1\n").startswith("the file is not UTF-8 text")


def test_the_largest_table_allowed_is_taken(client):
    text, _ = table(rows=5000, features=64)
    response = upload(client, text)
    assert response.status_code == 201, response.get_json()
    assert (response.get_json()["n_samples"], response.get_json()["n_features"]) == (5000, 64)


def test_a_body_over_the_upload_limit_is_413_and_a_json_body_415(make_app):
    client = make_app(UPLOAD_MAX_BYTES=1000).test_client()
    text, _ = table(rows=60)
    response = upload(client, text)
    assert response.status_code == 413
    assert response.get_json()["error"] == "the file is larger than the limit of 1000 bytes"
    assert response.get_json()["details"][0]["message"] == {
        "id": "the file is larger than the limit of {limit} bytes", "params": {"limit": "1000"}}
    assert client.post("/api/datasets", json={"x": 1}).status_code == 415


def test_the_store_expires_uploads_after_their_last_use():
    now = [0.0]
    store = DatasetStore(ttl_seconds=10, per_client=5, bytes_per_client=10**9, bytes_total=10**9,
                         clock=lambda: now[0])
    data = _data(10)
    key = store.put(data, "client")
    now[0] = 9.0
    assert store.get(key) is data  # a use: ten more seconds
    now[0] = 18.0
    assert store.get(key) is data
    now[0] = 28.5
    assert store.get(key) is None and len(store) == 0


def test_a_client_over_its_budget_loses_its_least_recently_used_upload():
    store = DatasetStore(ttl_seconds=100, per_client=2, bytes_per_client=10**9, bytes_total=10**9)
    first, second = store.put(_data(10), "a"), store.put(_data(10), "a")
    other = store.put(_data(10), "b")
    store.get(first)
    third = store.put(_data(10), "a")
    assert store.get(second) is None
    assert all(store.get(key) is not None for key in (first, third, other))
    size = _data(10).nbytes
    small = DatasetStore(ttl_seconds=100, per_client=10, bytes_per_client=10**9, bytes_total=2 * size)
    keys = [small.put(_data(10), client) for client in ("a", "b", "c")]
    assert small.get(keys[0]) is None and small.get(keys[2]) is not None


def _data(rows: int):
    from server.engine.uploads import UploadedData

    return UploadedData(X=np.zeros((rows, 2)), y=np.arange(rows) % 2, classes=(0, 1), features=("a", "b"))


# --- runs on an upload ---------------------------------------------------------------------


@pytest.fixture
def engine_client(make_app):
    return make_app(TRAINER_FACTORY=Trainer).test_client()


def uploaded(client, text: str) -> dict:
    response = upload(client, text)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_run_on_a_two_feature_upload_trains_to_done_with_the_boundary(engine_client):
    info = uploaded(engine_client, table(rows=200)[0])
    config = {"seed": 1, "data": {"dataset": info["dataset"], "n_samples": 200},
              "training": {"epochs": 20, "boundary_every": 5}}
    run = start(engine_client, config)
    reader = StreamReader(engine_client.get(run["events_url"]))
    messages = reader.events()
    reader.close()
    names = [message.event for message in messages]
    assert names[0] == "config" and names[-1] == "done" and "boundary" in names and "diagnosis" in names
    assert messages[0].data["data"]["n_features"] == 2 and messages[0].data["points"] is not None
    done = messages[-1].data
    assert done["reason"] == "completed" and done["dev_accuracy"] > 0.8


def test_a_many_feature_multiclass_upload_gets_a_confusion_matrix_without_examples(engine_client):
    info = uploaded(engine_client, table(rows=150, features=5, classes=("r", "g", "b"))[0])
    config = {"data": {"dataset": info["dataset"], "n_samples": 150, "augment": {"enabled": True}},
              "training": {"epochs": 6, "boundary_every": 0}}
    reader = StreamReader(engine_client.get(start(engine_client, config)["events_url"]))
    messages = reader.events()
    reader.close()
    confusion = [message.data for message in messages if message.event == "confusion"]
    assert confusion and len(confusion[-1]["matrix"]) == 3 and confusion[-1]["misclassified"] == []
    assert "boundary" not in {message.event for message in messages}
    assert messages[-1].event == "done" and messages[-1].data["reason"] == "completed"


def test_a_two_feature_three_class_upload_streams_class_regions_and_a_confusion_matrix(engine_client):
    rows = ["u,v,label"] + [f"{(-1) ** i * (i % 7)},{(i % 3) * 10 + (i % 5) * 0.3},{'abc'[i % 3]}"
                            for i in range(90)]
    info = uploaded(engine_client, "\n".join(rows) + "\n")
    assert (info["n_features"], info["n_classes"]) == (2, 3)
    config = {"data": {"dataset": info["dataset"], "n_samples": 90},
              "training": {"epochs": 10, "boundary_every": 5}}
    reader = StreamReader(engine_client.get(start(engine_client, config)["events_url"]))
    messages = reader.events()
    reader.close()
    assert messages[0].data["points"]["train"]["label"] and messages[-1].event == "done"
    boundaries = [message.data for message in messages if message.event == "boundary"]
    assert [boundary["epoch"] for boundary in boundaries] == [0, 5, 10]
    last = boundaries[-1]
    assert last["classes"] == 3 and "z" not in last and last["neurons"]["layers"]
    cells = [value for row in last["predicted"] for value in row]
    assert len(cells) == len(last["x"]) * len(last["y"]) and set(cells) <= {0, 1, 2}
    assert all(1 / 3 - 1e-3 <= value <= 1 for row in last["confidence"] for value in row)
    confusion = [message.data for message in messages if message.event == "confusion"]
    assert confusion and len(confusion[-1]["matrix"]) == 3


def test_an_upload_is_split_and_normalized_with_the_training_statistics(engine_client):
    info = uploaded(engine_client, table(rows=100, features=3)[0])
    config = parse_config({"data": {"dataset": info["dataset"], "n_samples": 100}})
    splits = make_data(config)
    assert [len(splits[name][1]) for name in ("train", "dev", "test")] == [60, 20, 20]
    X_train = splits["train"][0]
    assert np.allclose(X_train.mean(axis=0), 0) and np.allclose(X_train.std(axis=0), 1)


def test_an_unknown_upload_or_too_many_samples_is_a_400_naming_the_field(engine_client):
    info = uploaded(engine_client, table(rows=60)[0])
    missing = engine_client.post("/api/runs", json={"data": {"dataset": "upload:" + "A" * 22}})
    assert missing.status_code == 400
    assert missing.get_json()["details"][0]["loc"] == "data.dataset"
    bad_name = engine_client.post("/api/runs", json={"data": {"dataset": "upload:x"}})
    assert bad_name.status_code == 400 and bad_name.get_json()["details"][0]["loc"] == "data.dataset"
    too_many = engine_client.post("/api/runs", json={"data": {"dataset": info["dataset"], "n_samples": 61}})
    assert too_many.status_code == 400
    assert too_many.get_json()["details"] == [{
        "loc": "data.n_samples", "msg": "the uploaded data set has 60 samples; n_samples is 61"}]
    preview = engine_client.post("/api/preview", json={"data": {"dataset": info["dataset"], "n_samples": 60}})
    assert preview.status_code == 200 and preview.get_json()["data"]["is_2d"] is True
    gone = engine_client.post("/api/gradcheck", json={"data": {"dataset": "upload:" + "B" * 22}})
    assert gone.status_code == 400 and gone.get_json()["details"][0]["loc"] == "data.dataset"


def test_the_schema_lists_the_built_in_sets_and_the_upload_pattern(client):
    field = client.get("/api/schema").get_json()["$defs"]["Data"]["properties"]["dataset"]
    assert field["anyOf"][0]["enum"][:2] == ["circles", "moons"]
    assert field["anyOf"][1]["pattern"].startswith("^upload:")


def test_training_hosts_receive_the_upload_for_runs_and_gradient_checks(make_app):
    client = make_app(RUN_PROCESSES=1, TRAINER_FACTORY=None).test_client()
    info = uploaded(client, table(rows=80, features=4, classes=("p", "q", "r"))[0])
    config = {"data": {"dataset": info["dataset"], "n_samples": 80}, "model": {"hidden": [{"units": 3}]},
              "training": {"epochs": 4}}
    check = client.post("/api/gradcheck", json=config)
    assert check.status_code == 200, check.get_json()
    assert check.get_json()["verdict"] in ("great", "ok")
    paced = {**config, "training": {"epochs": 2000, "epochs_per_second": 100}}
    run = start(client, paced)
    reader = StreamReader(client.get(run["events_url"]))
    reader.events(until=lambda message: message.event == "metrics" and message.data["epoch"] >= 2)
    # A live update validates the config again in the host: the upload must still be found there.
    control(client, run, "update", config={"optimizer": {"learning_rate": 0.05}})
    reader.events(until=lambda message: message.event == "update")
    control(client, run, "stop")
    messages = reader.events()
    reader.close()
    summary = next(message for message in reader.messages if message.event == "config").data["data"]
    assert (summary["n_features"], summary["n_classes"]) == (4, 3)
    assert messages[-1].event == "done" and messages[-1].data["reason"] == "stopped"


def test_a_search_on_an_upload_is_refused_naming_the_field():
    from server.engine.config import ConfigError
    from server.search.definition import parse_search

    definition = {"base": {"data": {"dataset": "upload:" + "C" * 22}},
                  "space": {"optimizer.learning_rate": {"type": "log_uniform", "low": 1e-3, "high": 1e-1}},
                  "trials": 2}
    with pytest.raises(ConfigError) as caught:
        parse_search(definition, max_trials=10, max_workers=2)
    expected = {"loc": "base.data.dataset", "msg": "a search trains on the built-in data sets only"}
    assert expected in caught.value.details


def test_engineered_features_are_refused_for_an_upload(engine_client):
    info = uploaded(engine_client, table(rows=60)[0])
    response = engine_client.post("/api/runs", json={
        "data": {"dataset": info["dataset"], "n_samples": 60, "features": ["x1", "x2", "x1_squared"]}})
    assert response.status_code == 400
    assert response.get_json()["details"][0]["loc"] == "data.features"


def test_points_clicked_on_the_chart_make_a_new_upload_in_the_file_units(engine_client):
    text, _ = table(rows=60)
    info = uploaded(engine_client, text)
    config = {"seed": 2, "data": {"dataset": info["dataset"], "n_samples": 60}}
    points = [{"x": 0.5, "y": -1.0, "label": 1}, {"x": 0.0, "y": 0.0, "label": 0}]
    url = f"/api/datasets/{info['id']}/points"
    response = engine_client.post(url, json={"config": config, "points": points})
    assert response.status_code == 201, response.get_json()
    grown = response.get_json()
    assert grown["id"] != info["id"] and grown["n_samples"] == 62 and grown["classes"] == info["classes"]
    from server.engine.data import prepare_data

    dataset = prepare_data(parse_config(config), np.random.default_rng(2))
    store = engine_client.application.extensions["dataset_store"]
    added = store.get(grown["id"]).X[-2:]
    assert np.allclose(dataset.normalize(added), [[0.5, -1.0], [0.0, 0.0]])
    assert store.get(info["id"]).n_samples == 60  # the original stays as it was
    bad = engine_client.post(f"/api/datasets/{info['id']}/points",
                             json={"config": config, "points": [{"x": 1, "y": "a", "label": 0}]})
    assert bad.status_code == 400 and bad.get_json()["details"][0]["loc"] == "points.0.y"
    wrong_class = engine_client.post(f"/api/datasets/{info['id']}/points",
                                     json={"config": config, "points": [{"x": 1, "y": 2, "label": 2}]})
    assert wrong_class.get_json()["details"][0]["loc"] == "points.0.label"
    other = engine_client.post(f"/api/datasets/{info['id']}/points",
                               json={"config": {}, "points": points})
    assert other.status_code == 400 and other.get_json()["details"][0]["loc"] == "config.data.dataset"
