"""Blueprint ``searches``: hyperparameter searches, their event streams, and the search page.

- ``POST /api/searches``: body a search definition; 201 ``{"id", "events_url", ...}``.
- ``POST /api/searches/plan``: the trials a definition would run, without running them.
- ``GET /api/searches/presets``: ready-made definitions (the grid-versus-random pair).
- ``GET /api/searches/<id>``: status, trials so far, best trial.
- ``GET /api/searches/<id>/events``: SSE (``search``, ``trial``, ``best``, ``done``),
  replaying after ``Last-Event-ID`` or ``?since=``.
- ``POST /api/searches/<id>/control``: ``{"action": "stop"}`` or
  ``{"action": "zoom", "top_k": 3}`` (201, a new search around the best trials).
- ``GET /search``: the page.

Config keys read by ``init_app``: ``SEARCH_EXECUTOR`` (``"process"``, the
default, ``"thread"``, or a ``workers -> TrialExecutor`` callable),
``SEARCH_LIMITS`` (a dict of ``server.search.limits.SearchLimits`` fields) and
``SEARCH_MANAGER`` (a ready ``SearchManager``).  ``docs/search.md`` documents
the definition and the events.
"""

from __future__ import annotations

import atexit
import threading
from contextlib import contextmanager
from typing import ClassVar, Literal

from flask import Blueprint, Flask, current_app, render_template, url_for
from pydantic import Field

from server.engine.config import DATASETS, ConfigError
from server.limits import runtime_limits_from_env
from server.search.executor import EXECUTORS
from server.search.limits import search_limits_from_env
from server.search.manager import NoFinishedTrialError, Search, SearchCapacityError, SearchManager
from server.search.presets import QUICK_BASE, presets
from server.search.space import DISTRIBUTIONS
from server.web.clients import current_client
from server.web.errors import ApiError, RequestBody, json_body, json_response, parse_body
from server.web.sse import requested_last_id, stream_response

bp = Blueprint("searches", __name__)

CONTROL_ACTIONS = ("stop", "zoom")
DEFAULT_TOP_K = 3


def init_app(app: Flask) -> None:
    manager = app.config.get("SEARCH_MANAGER")
    if manager is None:
        manager = _new_manager(app)
        _stop_at_exit(manager)
    app.extensions["search_manager"] = manager
    app.register_blueprint(bp)


def _new_manager(app: Flask) -> SearchManager:
    choice = app.config.get("SEARCH_EXECUTOR", "process")
    if callable(choice):
        factory = choice
    elif choice in EXECUTORS:
        factory = EXECUTORS[choice]
    else:
        raise ValueError(f"SEARCH_EXECUTOR must be one of {', '.join(EXECUTORS)} or a callable, "
                         f"got {choice!r}")
    runtime_limits = app.config.get("RUNTIME_LIMITS") or runtime_limits_from_env()
    search_limits = search_limits_from_env(**app.config.get("SEARCH_LIMITS", {}))
    return SearchManager(runtime_limits, search_limits, factory)


def _stop_at_exit(manager: SearchManager) -> None:
    # concurrent.futures waits for running trials in a threading-level exit
    # hook, which runs before atexit handlers: stopping the searches from an
    # atexit handler would come only after that wait, for as long as the
    # trials take.  Hooks run in reverse order, so this one runs first.
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        register(manager.shutdown, 2.0)
    else:
        atexit.register(manager.shutdown, 2.0)


def manager() -> SearchManager:
    return current_app.extensions["search_manager"]


def _search_or_404(search_id: str) -> Search:
    search = manager().get(search_id)
    if search is None:
        raise ApiError(404, "no search with this id (it never existed or has expired)")
    return search


def _links(search: Search) -> dict:
    return {"events_url": url_for("searches.search_events", search_id=search.id),
            "status_url": url_for("searches.search_status", search_id=search.id),
            "control_url": url_for("searches.control_search", search_id=search.id)}


def _created(search: Search):
    body = {"id": search.id, **_links(search), "definition": search.definition.to_json(),
            "planned_trials": len(search.definition.plan), "workers": search.workers,
            "parent": search.parent}
    return json_response(body, 201, {"Location": body["status_url"]})


@contextmanager
def _api_errors():
    """The search manager's exceptions as the API's error responses."""
    try:
        yield
    except ConfigError as error:
        raise ApiError(400, "invalid search", error.details) from None
    except SearchCapacityError as error:
        raise ApiError(429, str(error), headers={"Retry-After": str(error.retry_after)}) from None
    except NoFinishedTrialError as error:
        raise ApiError(409, str(error)) from None


@bp.post("/api/searches")
def create_search():
    raw = json_body()
    with _api_errors():
        search = manager().create(raw, client=current_client().key)
    return _created(search)


@bp.post("/api/searches/plan")
def plan_search():
    raw = json_body()
    with _api_errors():
        definition = manager().parse(raw)
    trials = [{"index": index, "config": params} for index, params in enumerate(definition.plan)]
    return json_response({"definition": definition.to_json(), "trials": trials})


@bp.get("/api/searches/presets")
def search_presets():
    return json_response(presets())


@bp.get("/api/searches/distributions")
def search_distributions():
    """Each distribution's name and the fields it takes (for forms and clients)."""
    return json_response({name: cls.model_json_schema() for name, cls in DISTRIBUTIONS.items()})


@bp.get("/api/searches/<search_id>")
def search_status(search_id: str):
    search = _search_or_404(search_id)
    return json_response({**search.snapshot(), **_links(search)})


@bp.get("/api/searches/<search_id>/events")
def search_events(search_id: str):
    search = _search_or_404(search_id)
    last_id = requested_last_id(latest=search.last_event_id)
    if search.finished and last_id >= search.last_event_id:
        # Everything was delivered: 204 tells EventSource to stop reconnecting.
        return current_app.response_class(status=204)
    # The same caps as a run's streams: a search cannot hold more of the server's threads.
    return stream_response(search.events_after, last_id, client=current_client(),
                           kind="search", source_id=search.id)


class SearchControl(RequestBody):
    """``{"action": "stop"}`` or ``{"action": "zoom", "top_k": 3}``."""

    messages: ClassVar[dict[str, str]] = {"action": f"must be one of {', '.join(CONTROL_ACTIONS)}",
                                          "top_k": "must be a positive integer, got {input}"}
    action: Literal[CONTROL_ACTIONS]
    top_k: int = Field(DEFAULT_TOP_K, ge=1)

    def problems(self) -> list[dict[str, str]]:
        if self.action == "stop" and "top_k" in self.model_fields_set:
            return [{"loc": "top_k", "msg": "only zoom takes top_k"}]
        return []


@bp.post("/api/searches/<search_id>/control")
def control_search(search_id: str):
    search = _search_or_404(search_id)
    body = parse_body(SearchControl, "invalid control")
    if body.action == "stop":
        search.stop()
        return json_response({"id": search.id, "status": search.status})
    with _api_errors():
        zoomed = manager().zoom(search, body.top_k, client=current_client().key)
    return _created(zoomed)


@bp.get("/search")
def search_page():
    manager().prewarm()
    settings = {
        "presets": presets(),
        "datasets": list(DATASETS),
        "defaultBase": QUICK_BASE,
        "maxTrials": manager().runtime_limits.max_search_trials,
        "maxWorkers": manager().search_limits.max_workers,
    }
    return render_template("search.html", settings=settings)
