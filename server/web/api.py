"""Blueprint ``api``: runs, their event streams and controls, gradient checks, schema, health.

The routes validate, delegate to the run manager (``app.extensions["run_manager"]``)
or the engine, and format.  ``docs/api.md`` documents every route.
"""

from __future__ import annotations

import threading
from functools import partial
from typing import Any, ClassVar, Literal

from flask import Blueprint, Flask, current_app, url_for
from pydantic import Field

from server.engine.config import ConfigError, RunConfig, config_schema, parse_config
from server.engine.data import check_dataset
from server.engine.preview import count_parameters, preview
from server.runs.manager import RunManager
from server.runs.processes import HostGone
from server.runs.run import ACTIONS, ACTIVE_STATUSES
from server.web.clients import current_client, start_run
from server.web.errors import ApiError, RequestBody, json_body, json_response, parse_body, validate_body
from server.web.health import unavailable_reasons
from server.web.sse import SharedStreamSlots, StreamSlots, requested_last_id, stream_response

bp = Blueprint("api", __name__)


def init_app(app: Flask) -> None:
    caps = (app.config["SSE_STREAMS_PER_RUN"], app.config["SSE_STREAMS_PER_CLIENT"],
            app.config["SSE_STREAMS_TOTAL"], app.config["SSE_STREAMS_PER_ADDRESS"])
    shared = getattr(app.extensions["run_manager"], "stream_leases", None)  # the Redis backend's
    app.extensions["stream_slots"] = SharedStreamSlots(shared, *caps) if shared else StreamSlots(*caps)
    app.extensions["gradcheck_slots"] = threading.BoundedSemaphore(app.config["GRADCHECK_CONCURRENCY"])
    app.register_blueprint(bp)


def manager() -> RunManager:
    return current_app.extensions["run_manager"]


@bp.post("/api/runs")
def create_run():
    config = parse_config(json_body())
    check_dataset(config)
    status = start_run(manager(), config, current_client())
    status_url = url_for("api.run_status", run_id=status["id"])
    # The other two routes hang under the status route; one url_for is a
    # measurable share of this request when many runs start at once.
    body = {
        "id": status["id"],
        "events_url": f"{status_url}/events",
        "control_url": f"{status_url}/control",
        "status_url": status_url,
        "config": status["config"],
        "status": status["status"],
    }
    return json_response(body, 201, {"Location": body["status_url"]})


@bp.get("/api/runs/<run_id>")
def run_status(run_id: str):
    return json_response(manager().status(run_id))


@bp.get("/api/runs/<run_id>/events")
def run_events(run_id: str):
    runs = manager()
    status, last_event_id = runs.progress(run_id)
    last_id = requested_last_id(latest=last_event_id)
    if status not in ACTIVE_STATUSES and last_id >= last_event_id:
        # Everything was delivered: 204 tells EventSource to stop reconnecting.
        return current_app.response_class(status=204)
    return stream_response(partial(runs.events_since, run_id), last_id,
                           client=current_client(), kind="run", source_id=run_id)


class RunControl(RequestBody):
    """``{"action": ...}``, with ``"config"`` (a partial config) for ``update`` only."""

    messages: ClassVar[dict[str, str]] = {"action": f"must be one of {', '.join(ACTIONS)}"}
    action: Literal[ACTIONS]
    config: Any = None  # validated against the run by the manager (``parse_update``)

    def problems(self) -> list[dict[str, str]]:
        given = "config" in self.model_fields_set
        if self.action == "update" and not given:
            return [{"loc": "config", "msg": "an update needs the partial config to apply"}]
        if self.action != "update" and given:
            return [{"loc": "config", "msg": f"only an update takes a config, not {self.action}"}]
        return []


@bp.post("/api/runs/<run_id>/control")
def control_run(run_id: str):
    body = parse_body(RunControl, "invalid control")
    try:
        status = manager().control(run_id, body.action, body.config)
    except ConfigError as error:
        raise ApiError(400, "invalid update", error.details) from None
    return json_response(status)


@bp.post("/api/gradcheck")
def gradcheck():
    config, inject_bug, epsilon = _gradcheck_request(json_body())
    check_dataset(config)
    budget = current_app.config["GRADCHECK_MAX_PARAMETERS"]
    parameters = count_parameters(config)
    if budget is not None and parameters > budget:
        raise ApiError(400, "network too large for a gradient check", [{
            "loc": "model.hidden",
            "msg": f"the network has {parameters} parameters; a gradient check takes at most {budget}"}])
    slots: threading.BoundedSemaphore = current_app.extensions["gradcheck_slots"]
    if not slots.acquire(blocking=False):
        raise ApiError(429, "gradient checks are busy; try again shortly", headers={"Retry-After": "2"})
    try:
        result = _gradient_check()(config.model_dump(mode="json"), epsilon=epsilon, inject_bug=inject_bug)
    except HostGone as error:  # the process computing it was lost; a fresh one is starting
        raise ApiError(503, f"the gradient check did not finish: {error}; try again",
                       headers={"Retry-After": "2"}) from None
    finally:
        slots.release()
    return json_response(result)


def _gradient_check():
    """The engine's ``gradient_check``, run in a training host process or worker when the app has them."""
    pool = current_app.extensions.get("trainer_pool")
    if pool is not None:
        return pool.gradient_check
    on_workers = getattr(manager(), "gradient_check", None)  # the Redis backend's workers
    if on_workers is not None:
        return on_workers
    from server.engine import gradient_check

    return gradient_check


class GradcheckRequest(RequestBody):
    """``{"config": ..., "inject_bug": bool, "epsilon": float}``; ``parse_config`` checks the config."""

    messages: ClassVar[dict[str, str]] = {"inject_bug": "must be true or false",
                                          "epsilon": "must be a number in (0, 0.01]"}
    config: Any
    inject_bug: bool = False
    epsilon: float = Field(1e-7, gt=0, le=1e-2)


def _gradcheck_request(body) -> tuple[RunConfig, bool, float]:
    """Accept a bare config, or a ``GradcheckRequest``."""
    if not (isinstance(body, dict) and "config" in body):
        return parse_config(body), False, 1e-7
    request_body, details = validate_body(GradcheckRequest, body)
    try:
        config = parse_config(body["config"])
    except ConfigError as error:
        details.extend({"loc": f"config.{item['loc']}" if item["loc"] else "config", "msg": item["msg"]}
                       for item in error.details)
    if details:
        raise ApiError(400, "invalid configuration", details)
    return config, request_body.inject_bug, float(request_body.epsilon)


@bp.get("/api/schema")
def schema():
    return json_response(config_schema())


@bp.get("/healthz")
def healthz():
    health = getattr(manager(), "health", None)  # a backend with parts that can fail (Redis, workers)
    problem, parts = health() if health else (None, {})
    if problem:
        reason = "; ".join([*unavailable_reasons(current_app), problem])
        return json_response({"status": "unavailable", "reason": reason, **parts}, 503, {"Retry-After": "5"})
    load = manager().load()
    reasons = unavailable_reasons(current_app)
    if reasons:
        return json_response({"status": "unavailable", "reason": "; ".join(reasons), **load, **parts}, 503)
    if load["runs"] >= load["capacity"]:
        return json_response({"status": "full", **load, **parts}, 503, {"Retry-After": "5"})
    return json_response({"status": "ok", **load, **parts})


@bp.post("/api/preview")
def preview_config():
    """What a config will make (data shape, split sizes, parameters, points), validated like a run."""
    return json_response(preview(json_body()))
