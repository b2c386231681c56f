"""Blueprint: lesson presets, the three labs' data, and the lab pages.

- ``GET /api/presets`` and ``GET /api/presets/<id>``: the lesson presets, each
  with its full, normalized config.
- ``GET /api/labs/surfaces``: the optimizer lab's loss surfaces and defaults.
- ``GET /api/labs/optimizers/events?surface=...``: the four optimizers' race
  as a Server-Sent Events stream (``surface``, then ``steps`` batches, then
  ``done``), paced by ``steps_per_second`` so the page can animate it.
- ``GET /api/labs/normalization`` and ``GET /api/labs/averages``: the other two
  labs' data as JSON.
- ``GET /labs`` and ``/labs/<name>``: the pages.

Lab settings come from the query string (``EventSource`` can only GET); a bad
or unknown parameter is a 400 whose ``details`` name it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, abort, render_template, request

from server.engine.config import ConfigError
from server.lessons import labs
from server.lessons.presets import PRESETS, TOPICS, preset_json
from server.web.errors import ApiError, json_response
from server.web.sse import format_sse, sse_response

bp = Blueprint("lessons", __name__)

FRAMES_PER_SECOND = 10
LAB_PAGES = {
    "optimizers": ("labs/optimizers.html", "Optimizer race"),
    "normalization": ("labs/normalization.html", "Normalizing inputs"),
    "averages": ("labs/averages.html", "Exponentially weighted averages"),
}


@bp.get("/api/presets")
def list_presets():
    return json_response([preset_json(preset) for preset in PRESETS.values()])


@bp.get("/api/presets/<preset_id>")
def get_preset(preset_id: str):
    preset = PRESETS.get(preset_id)
    if preset is None:
        raise ApiError(404, f"no preset named {preset_id!r}",
                       [{"loc": "id", "msg": f"known presets: {', '.join(PRESETS)}"}])
    return json_response(preset_json(preset))


@bp.get("/api/labs/surfaces")
def list_surfaces():
    return json_response({
        "surfaces": [surface.summary() for surface in labs.SURFACES.values()],
        "optimizers": list(labs.OPTIMIZER_NAMES),
        "defaults": labs.OptimizerLabSettings().model_dump(exclude={"learning_rate", "steps", "x0", "y0"}),
        "max_steps": labs.MAX_LAB_STEPS,
    })


@bp.get("/api/labs/optimizers/events")
def optimizer_events():
    settings = _lab_settings(labs.OptimizerLabSettings, _query())
    last_id = _last_event_id()
    return sse_response(_race_stream(settings, last_id))


@bp.get("/api/labs/normalization")
def normalization_data():
    settings = _lab_settings(labs.NormalizationLabSettings, _query())
    return json_response(labs.normalization_lab(settings))


@bp.get("/api/labs/averages")
def averages_data():
    query = _query()
    if "betas" in query:
        query["betas"] = [part.strip() for part in query["betas"].split(",")]
    settings = _lab_settings(labs.AveragesLabSettings, query)
    return json_response(labs.averages_lab(settings))


@bp.get("/labs")
def labs_index():
    topics = [(title, [preset for preset in PRESETS.values() if preset.topic == topic])
              for topic, title in TOPICS.items()]
    return render_template("labs/index.html", topics=[(title, group) for title, group in topics if group],
                           labs={name: title for name, (_, title) in LAB_PAGES.items()})


@bp.get("/labs/<name>")
def lab_page(name: str):
    if name not in LAB_PAGES:
        abort(404)
    template, title = LAB_PAGES[name]
    return render_template(template, title=title, lab=name, module=f"labs/{name}.js")


def _lab_settings(model: type, query: dict) -> Any:
    try:
        return labs.parse_lab_settings(model, query)
    except ConfigError as error:
        raise ApiError(400, "invalid lab settings", error.details) from None


def _query() -> dict[str, str]:
    """The query string as a dict; a parameter given twice is ambiguous, so a 400."""
    repeated = [key for key in request.args if len(request.args.getlist(key)) > 1]
    if repeated:
        raise ApiError(400, "invalid lab settings",
                       [{"loc": key, "msg": "given more than once"} for key in repeated])
    return request.args.to_dict()


def _last_event_id() -> int:
    """Where a reconnecting ``EventSource`` left off (-1: from the start)."""
    raw = request.headers.get("Last-Event-ID", "")
    return int(raw) if raw.isdigit() else -1


def _race_stream(settings: labs.OptimizerLabSettings, last_id: int) -> Iterator[str]:
    """SSE chunks of the race; events up to ``last_id`` were already delivered and are skipped.

    The race is computed in full first (a few milliseconds), then sent in
    ``FRAMES_PER_SECOND`` batches a second so that the page animates it at
    ``steps_per_second``.
    """
    surface = labs.SURFACES[settings.surface]
    values = settings.resolved()
    trajectories = labs.optimizer_race(settings)
    steps = values["steps"]
    per_frame = max(1, math.ceil(settings.steps_per_second / FRAMES_PER_SECOND))
    frame_seconds = per_frame / settings.steps_per_second

    events: list[tuple[str, dict]] = [("surface", {
        **surface.summary(), **surface.grid(), "settings": values,
        "optimizers": list(trajectories),
    })]
    for first in range(0, steps + 1, per_frame):
        last = min(steps, first + per_frame - 1)
        events.append(("steps", {
            "from": first, "to": last,
            "points": {name: path.points[first:last + 1].round(6).tolist()
                       for name, path in trajectories.items()},
            "losses": {name: path.losses[first:last + 1].round(6).tolist()
                       for name, path in trajectories.items()},
        }))
    events.append(("done", {"steps": steps, "outcomes": {
        name: labs.trajectory_outcome(surface, path) for name, path in trajectories.items()}}))

    yield format_sse(retry=2000)
    deadline = time.monotonic()
    for event_id, (name, data) in enumerate(events):
        if event_id <= last_id:
            continue
        if name == "steps":
            deadline += frame_seconds
            time.sleep(max(0.0, deadline - time.monotonic()))
        yield format_sse(data, event=name, id=event_id)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
