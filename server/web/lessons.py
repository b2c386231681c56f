"""Blueprint: lesson presets, the three labs' data, and the lab pages.

- ``GET /api/presets`` and ``GET /api/presets/<id>``: the lesson presets, each
  with its full, normalized config.
- ``GET /api/labs/surfaces``: the optimizer lab's loss surfaces and defaults.
- ``GET /api/labs/optimizers/events?surface=...``: the four optimizers' race
  as a Server-Sent Events stream (``surface``, then ``steps`` batches, then
  ``done``), paced by ``steps_per_second`` so the page can animate it; it
  resumes after ``Last-Event-ID`` or ``?since=`` and shares the run streams'
  slots (429 when a client or the app has too many open).
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

from flask import Blueprint, Flask, abort, current_app, render_template, request

from server.engine.config import ConfigError
from server.lessons import labs
from server.lessons.presets import PRESETS, TOPICS, preset_json
from server.runs.events import LoggedEvent, to_json
from server.web.clients import CLIENT_PARAMETER, current_client
from server.web.errors import ApiError, json_response
from server.web.i18n import localized_preset, localized_surface
from server.web.sse import requested_last_id, stream_response

bp = Blueprint("lessons", __name__)

FRAMES_PER_SECOND = 10
LAB_PAGES = {
    "optimizers": ("labs/optimizers.html", "Optimizer race"),
    "normalization": ("labs/normalization.html", "Normalizing inputs"),
    "averages": ("labs/averages.html", "Exponentially weighted averages"),
}


@bp.get("/api/presets")
def list_presets():
    return json_response([localized_preset(preset_json(preset)) for preset in PRESETS.values()])


@bp.get("/api/presets/<preset_id>")
def get_preset(preset_id: str):
    preset = PRESETS.get(preset_id)
    if preset is None:
        raise ApiError(404, f"no preset named {preset_id!r}",
                       [{"loc": "id", "msg": f"known presets: {', '.join(PRESETS)}"}])
    return json_response(localized_preset(preset_json(preset)))


@bp.get("/api/labs/surfaces")
def list_surfaces():
    return json_response({
        "surfaces": [localized_surface(surface.summary()) for surface in labs.SURFACES.values()],
        "optimizers": list(labs.OPTIMIZER_NAMES),
        "defaults": labs.OptimizerLabSettings().model_dump(exclude={"learning_rate", "steps", "x0", "y0"}),
        "max_steps": labs.MAX_LAB_STEPS,
    })


@bp.get("/api/labs/optimizers/events")
def optimizer_events():
    settings = _lab_settings(labs.OptimizerLabSettings, _query())
    race = PacedRace(settings)
    last_id = requested_last_id(latest=race.last_id, default=-1)
    if last_id >= race.last_id:
        # Everything was delivered: 204 tells EventSource to stop reconnecting.
        return current_app.response_class(status=204)
    return stream_response(race.fetch, last_id, client=current_client(), kind="lab")


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
    query = request.args.to_dict()
    query.pop("since", None)  # where a stream resumes, read by ``requested_last_id``
    query.pop(CLIENT_PARAMETER, None)  # who asks (server.web.clients), not a lab setting
    return query


class PacedRace:
    """The race's events as a ``fetch(last_id, timeout)`` source for ``event_stream``.

    Ids start at 0 (the ``surface`` event).  The race is computed in full first
    (a few milliseconds); ``fetch`` then hands out the events after
    ``last_id`` at ``FRAMES_PER_SECOND`` ``steps`` batches a second, so the
    page animates it at ``steps_per_second``.  A stream that resumes is paced
    from its own start, not the first one's.
    """

    def __init__(self, settings: labs.OptimizerLabSettings, clock=time.monotonic, sleep=time.sleep):
        per_frame = max(1, math.ceil(settings.steps_per_second / FRAMES_PER_SECOND))
        self.frame_seconds = per_frame / settings.steps_per_second
        self.events = [LoggedEvent(event_id, name, to_json(data))
                       for event_id, (name, data) in enumerate(_race_events(settings, per_frame))]
        self.last_id = self.events[-1].id
        self._clock = clock
        self._sleep = sleep
        self._due: dict[int, float] = {}

    def fetch(self, last_id: int, timeout: float) -> list[LoggedEvent]:
        """The events after ``last_id`` that are due, waiting up to ``timeout`` s for the first."""
        pending = self.events[last_id + 1:]
        if not pending:
            raise LookupError("the race is over")
        if not self._due:
            self._schedule(pending)
        wait = self._due[pending[0].id] - self._clock()
        if wait > timeout:
            self._sleep(timeout)
            return []
        if wait > 0:
            self._sleep(wait)
        now = self._clock()
        return [event for event in pending if self._due[event.id] <= now]

    def _schedule(self, pending: list[LoggedEvent]) -> None:
        due = self._clock()
        for event in pending:
            if event.event == "steps":
                due += self.frame_seconds
            self._due[event.id] = due


def _race_events(settings: labs.OptimizerLabSettings, per_frame: int) -> Iterator[tuple[str, dict]]:
    """``surface``, then the steps in batches of ``per_frame``, then ``done`` with the outcomes."""
    surface = labs.SURFACES[settings.surface]
    values = settings.resolved()
    trajectories = labs.optimizer_race(settings)
    steps = values["steps"]
    yield "surface", {**localized_surface(surface.summary()), **surface.grid(), "settings": values,
                      "optimizers": list(trajectories)}
    for first in range(0, steps + 1, per_frame):
        last = min(steps, first + per_frame - 1)
        yield "steps", {
            "from": first, "to": last,
            "points": {name: path.points[first:last + 1].round(6).tolist()
                       for name, path in trajectories.items()},
            "losses": {name: path.losses[first:last + 1].round(6).tolist()
                       for name, path in trajectories.items()},
        }
    yield "done", {"steps": steps, "outcomes": {
        name: labs.trajectory_outcome(surface, path) for name, path in trajectories.items()}}


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
