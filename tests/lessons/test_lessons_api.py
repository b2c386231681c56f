import json
import re

import pytest

from server import create_app
from server.engine.config import parse_config
from server.lessons.labs import SURFACES
from server.lessons.presets import PRESETS


@pytest.fixture(scope="module")
def client():
    return create_app({"TESTING": True}).test_client()


def parse_sse(text: str) -> list[dict]:
    """The messages of an SSE body: each {"event", "id", "data"} (data decoded from JSON)."""
    messages = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if "event" in fields:
            messages.append({"event": fields["event"], "id": int(fields["id"]),
                             "data": json.loads(fields["data"])})
    return messages


def test_presets_list_every_preset_with_its_full_config(client):
    response = client.get("/api/presets")
    assert response.status_code == 200
    presets = response.get_json()
    assert [preset["id"] for preset in presets] == list(PRESETS)
    for preset in presets:
        assert set(preset) >= {"id", "title", "config", "explanation", "look_at", "try_next", "lesson"}
        # Full and normalized: it validates and every section is present.
        assert parse_config(preset["config"]).model_dump(mode="json") == preset["config"]
        assert set(preset["config"]) == {"seed", "data", "model", "regularization", "optimizer",
                                         "schedule", "training"}


def test_presets_carry_their_counterfactual_and_view_hints(client):
    response = client.get("/api/presets/dropout")
    assert response.status_code == 200
    preset = response.get_json()
    assert preset["counterfactual"] == {
        "label": "Run it without dropout",
        "config": {"model": {"hidden": [{"units": 64, "activation": "relu"}] * 2}},
        "difference": "keep_prob 1",
    }
    assert preset["view"] == {"smoothing": 0, "chart": "epoch", "weights": False, "test_data": False}
    mini = client.get("/api/presets/mini-batch-gradient-descent").get_json()
    assert mini["view"]["chart"] == "iteration"
    # The twin is a config the run endpoint takes as it is, once merged over the preset's.
    twin = PRESETS["dropout"].twin_config()
    created = client.post("/api/runs", json=twin)
    assert created.status_code == 201, created.get_json()
    run = created.get_json()
    assert run["config"]["model"]["hidden"][0]["keep_prob"] == 1.0
    stopped = client.post(f"/api/runs/{run['id']}/control", json={"action": "stop"})
    assert stopped.status_code == 200


def test_one_preset_by_id(client):
    response = client.get("/api/presets/overfitting")
    assert response.status_code == 200
    assert response.get_json()["config"]["seed"] == PRESETS["overfitting"].config["seed"]


def test_an_unknown_preset_is_a_404_naming_the_known_ones(client):
    response = client.get("/api/presets/no-such-lesson")
    assert response.status_code == 404
    body = response.get_json()
    assert "no-such-lesson" in body["error"]
    assert "overfitting" in body["details"][0]["msg"]


def test_surfaces_come_with_their_defaults(client):
    response = client.get("/api/labs/surfaces")
    assert response.status_code == 200
    body = response.get_json()
    assert [surface["id"] for surface in body["surfaces"]] == list(SURFACES)
    assert body["optimizers"] == ["gd", "momentum", "rmsprop", "adam"]
    assert body["defaults"]["beta2"] == 0.999


def test_the_race_streams_surface_then_every_step_then_done(client):
    response = client.get("/api/labs/optimizers/events?surface=saddle&steps=25&steps_per_second=2000")
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    messages = parse_sse(response.get_data(as_text=True))
    assert [m["id"] for m in messages] == list(range(len(messages)))
    assert messages[0]["event"] == "surface" and messages[-1]["event"] == "done"
    surface = messages[0]["data"]
    assert len(surface["z"]) == len(surface["y"]) and len(surface["z"][0]) == len(surface["x"])
    assert surface["settings"]["learning_rate"] == SURFACES["saddle"].learning_rate
    steps = [m["data"] for m in messages if m["event"] == "steps"]
    for name in ("gd", "momentum", "rmsprop", "adam"):
        path = [point for batch in steps for point in batch["points"][name]]
        assert len(path) == 26
        assert path[0] == list(SURFACES["saddle"].start)
    assert messages[-1]["data"]["outcomes"]["gd"]["steps"] == 25


def test_the_race_resumes_after_the_last_event_id(client):
    url = "/api/labs/optimizers/events?surface=plateau&steps=30&steps_per_second=2000"
    everything = parse_sse(client.get(url).get_data(as_text=True))
    resumed = parse_sse(client.get(url, headers={"Last-Event-ID": "2"}).get_data(as_text=True))
    assert resumed == everything[3:]


def test_the_race_is_paced_by_steps_per_second(client):
    response = client.get("/api/labs/optimizers/events?surface=bowl&steps=10", buffered=False)
    assert response.status_code == 400
    chunks = client.get("/api/labs/optimizers/events?surface=elongated-bowl&steps=40&steps_per_second=100")
    # 100 steps a second in frames of a tenth of a second: 10 steps per batch.
    batches = [m["data"] for m in parse_sse(chunks.get_data(as_text=True)) if m["event"] == "steps"]
    assert [batch["to"] - batch["from"] + 1 for batch in batches] == [10, 10, 10, 10, 1]


def test_a_diverging_race_never_sends_nan(client):
    response = client.get("/api/labs/optimizers/events?surface=rosenbrock&learning_rate=5&steps=50"
                          "&steps_per_second=2000")
    text = response.get_data(as_text=True)
    assert "NaN" not in text and "Infinity" not in text
    assert parse_sse(text)[-1]["data"]["outcomes"]["gd"]["diverged"] is True


@pytest.mark.parametrize(
    ("query", "loc"),
    [("surface=volcano", "surface"),
     ("learning_rate=-1", "learning_rate"),
     ("beta1=1", "beta1"),
     ("beta=abc", "beta"),
     ("steps_per_second=0", "steps_per_second"),
     ("surface=saddle&x0=4", "x0"),
     ("speed=3", "speed"),
     ("beta=0.5&beta=0.6", "beta")],
)
def test_bad_race_settings_are_a_400_naming_the_field(client, query, loc):
    response = client.get(f"/api/labs/optimizers/events?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid lab settings"
    assert [detail["loc"] for detail in body["details"]] == [loc]


def test_normalization_lab_data(client):
    response = client.get("/api/labs/normalization?steps=50")
    assert response.status_code == 200
    body = response.get_json()
    assert len(body["raw"]["path"]) == 51
    assert body["normalized"]["steps_to_converge"] < 10
    bad = client.get("/api/labs/normalization?learning_rate_raw=0")
    assert bad.status_code == 400
    assert bad.get_json()["details"][0]["loc"] == "learning_rate_raw"


def test_averages_lab_data(client):
    response = client.get("/api/labs/averages?betas=0.5,0.9&days=30")
    assert response.status_code == 200
    body = response.get_json()
    assert [entry["beta"] for entry in body["averages"]] == [0.5, 0.9]
    assert len(body["temperature"]) == 30 == len(body["averages"][1]["corrected"])
    bad = client.get("/api/labs/averages?betas=0.5,1.5")
    assert bad.status_code == 400
    assert bad.get_json()["details"][0]["loc"] == "betas.1"


@pytest.mark.parametrize("path", ["/labs", "/labs/optimizers", "/labs/normalization", "/labs/averages"])
def test_lab_pages_render_without_inline_scripts(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for script in re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S):
        attributes, body = script
        assert "src=" in attributes or 'type="application/json"' in attributes
        assert "src=" not in attributes or not body.strip()
    assert "http://" not in html and "https://" not in html.replace("https://www.w3.org", "")


def test_an_unknown_lab_page_is_a_404(client):
    assert client.get("/labs/quantum").status_code == 404


def test_the_index_links_every_preset_and_lab(client):
    html = client.get("/labs").get_data(as_text=True)
    for preset_id in PRESETS:
        assert f"preset={preset_id}" in html
    for lab in ("optimizers", "normalization", "averages"):
        assert f'href="/labs/{lab}"' in html
