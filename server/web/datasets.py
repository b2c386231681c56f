"""Blueprint ``datasets``: uploaded CSV data sets, kept for a while.

``POST /api/datasets`` reads a CSV body (``server.web.csv_upload``) and keeps
the arrays in the app's ``DatasetStore`` (in memory), or in Redis with the
Redis backend (``server.runs.redis_uploads``, so that every instance and
training worker finds them); the engine finds them through
``server.engine.uploads`` when a config names ``upload:<id>``.  An upload is
kept ``UPLOAD_TTL_SECONDS`` (24 hours) after it was last used (uploaded,
previewed or trained on); a client keeps at most ``UPLOAD_BYTES_PER_CLIENT``
of arrays and ``UPLOADS_PER_CLIENT`` uploads, and all clients together
``UPLOAD_BYTES_TOTAL``: beyond a budget the least recently used upload goes.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from flask import Blueprint, Flask, current_app, request

from server.engine.config import parse_config
from server.engine.data import prepare_data
from server.engine.messages import Message
from server.engine.uploads import UPLOAD_PREFIX, UploadedData, add_upload_source
from server.web.clients import current_client
from server.web.csv_upload import MAX_ROWS, CsvProblem, read_csv_upload
from server.web.errors import ApiError, json_body, json_response

bp = Blueprint("datasets", __name__)

DEFAULTS = {
    "UPLOAD_TTL_SECONDS": 24 * 3600.0,
    "UPLOAD_MAX_BYTES": 8 * 1024 * 1024,  # 5,000 rows of 64 features written with full precision
    "UPLOADS_PER_CLIENT": 20,
    "UPLOAD_BYTES_PER_CLIENT": 32 * 1024 * 1024,
    "UPLOAD_BYTES_TOTAL": 256 * 1024 * 1024,
}
CSV_TYPES = ("text/csv", "text/plain")
PREVIEW_ROWS = 5
MAX_NEW_POINTS = 200


@dataclass
class _Entry:
    data: UploadedData
    client: str
    last_used: float


class DatasetStore:
    """Uploads by id, expiring ``ttl_seconds`` after their last use, within per-client and total budgets."""

    def __init__(self, ttl_seconds: float, per_client: int, bytes_per_client: int, bytes_total: int,
                 clock: Callable[[], float] = time.monotonic):
        self.ttl_seconds = ttl_seconds
        self.per_client, self.bytes_per_client, self.bytes_total = per_client, bytes_per_client, bytes_total
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def put(self, data: UploadedData, client: str) -> str:
        """Keep ``data`` for ``client``; its new id (without the ``upload:`` prefix)."""
        key = secrets.token_urlsafe(16)
        with self._lock:
            self._expire()
            self._entries[key] = _Entry(data, client, self._clock())
            self._fit(client)
        return key

    def get(self, upload_id: str) -> UploadedData | None:
        """The upload, its last use now; None when unknown or expired (the engine's ``UploadSource``)."""
        with self._lock:
            self._expire()
            entry = self._entries.get(upload_id)
            if entry is None:
                return None
            entry.last_used = self._clock()
            return entry.data

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._entries)

    def _expire(self) -> None:
        oldest_allowed = self._clock() - self.ttl_seconds
        for key in [key for key, entry in self._entries.items() if entry.last_used < oldest_allowed]:
            del self._entries[key]

    def _fit(self, client: str) -> None:
        """Drop least recently used uploads until the client's and the total budgets hold."""
        def over(entries: list[_Entry], limit_bytes: int, limit_count: int | None) -> bool:
            too_many = limit_count is not None and len(entries) > limit_count
            return too_many or sum(entry.data.nbytes for entry in entries) > limit_bytes

        for scope, limit_bytes, limit_count in ((client, self.bytes_per_client, self.per_client),
                                                (None, self.bytes_total, None)):
            while True:
                keys = [key for key, entry in self._entries.items() if scope is None or entry.client == scope]
                entries = [self._entries[key] for key in keys]
                if len(keys) <= 1 or not over(entries, limit_bytes, limit_count):
                    break
                del self._entries[min(keys, key=lambda key: self._entries[key].last_used)]


def init_app(app: Flask) -> None:
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    config = app.config
    budget = (config["UPLOAD_TTL_SECONDS"], config["UPLOADS_PER_CLIENT"], config["UPLOAD_BYTES_PER_CLIENT"],
              config["UPLOAD_BYTES_TOTAL"])
    shared = getattr(app.extensions["run_manager"], "upload_store", None)  # the Redis backend's
    store = shared(*budget) if shared is not None else DatasetStore(*budget)
    app.extensions["dataset_store"] = store
    add_upload_source(store)  # held weakly: it goes with the app
    app.register_blueprint(bp)


def describe(upload_id: str, data: UploadedData) -> dict:
    class_counts = [int((data.y == index).sum()) for index in range(data.n_classes)]
    return {
        "id": upload_id, "dataset": UPLOAD_PREFIX + upload_id,
        "n_samples": data.n_samples, "n_features": data.n_features, "n_classes": data.n_classes,
        "classes": list(data.classes), "class_counts": class_counts, "features": list(data.features),
        "preview": {"X": data.X[:PREVIEW_ROWS].tolist(),
                    "label": [data.classes[index] for index in data.y[:PREVIEW_ROWS].tolist()]},
        "expires_after_idle_s": current_app.config["UPLOAD_TTL_SECONDS"],
    }


def _store():
    return current_app.extensions["dataset_store"]


@bp.post("/api/datasets")
def upload_dataset():
    if request.mimetype not in CSV_TYPES:
        raise ApiError(415, "the body must be a CSV file, sent with Content-Type: text/csv")
    limit = current_app.config["UPLOAD_MAX_BYTES"]
    request.max_content_length = limit  # above the app's limit for JSON bodies
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise _too_large(limit)
    try:
        data = read_csv_upload(body)
    except CsvProblem as problem:
        raise ApiError(400, str(problem), [problem.detail()]) from None
    upload_id = _store().put(data, current_client().key)
    return json_response(describe(upload_id, data), 201)


def _too_large(limit: int) -> ApiError:
    message = Message("the file is larger than the limit of {limit} bytes", limit=str(limit))
    return ApiError(413, str(message), [{"loc": "body", "msg": str(message), "message": message.json()}])


@bp.get("/api/datasets/<upload_id>")
def dataset_info(upload_id: str):
    data = _store().get(upload_id)
    if data is None:
        raise ApiError(404, "no such uploaded data set: it was never uploaded or has expired")
    return json_response(describe(upload_id, data))


@bp.post("/api/datasets/<upload_id>/points")
def add_points(upload_id: str):
    """A new upload: this two-feature one plus points clicked on the boundary chart.

    Body ``{"config": the page's config (naming this upload), "points": [{"x", "y", "label"}]}``,
    x and y in the network's coordinates (as the boundary chart shows them), label a class index;
    the config's training statistics turn them back into the file's units.
    """
    data = _store().get(upload_id)
    if data is None:
        raise ApiError(404, "no such uploaded data set: it was never uploaded or has expired")
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get("points"), list):
        raise _bad_points("points", "a list of {x, y, label} is needed")
    config = parse_config(body.get("config", {}))
    if config.data.dataset != UPLOAD_PREFIX + upload_id:
        raise _bad_points("config.data.dataset", "must name this upload")
    if data.n_features != 2:
        raise _bad_points("points", "points are added to two-feature data only")
    plane, labels = _new_points(body["points"], data)
    dataset = prepare_data(config, np.random.default_rng(config.seed))
    raw = dataset.denormalize(plane)
    grown = UploadedData(X=np.vstack((data.X, raw)), y=np.concatenate((data.y, labels)),
                         classes=data.classes, features=data.features)
    new_id = _store().put(grown, current_client().key)
    return json_response(describe(new_id, grown), 201)


def _new_points(points: list, data: UploadedData) -> tuple[np.ndarray, np.ndarray]:
    """Validated points: (k, 2) network coordinates and (k,) class indices; 400 naming the bad one."""
    if not 1 <= len(points) <= MAX_NEW_POINTS or data.n_samples + len(points) > MAX_ROWS:
        raise _bad_points("points", f"1 to {MAX_NEW_POINTS} points at a time, at most {MAX_ROWS} rows in all")
    plane, labels = [], []
    for index, point in enumerate(points):
        values = point if isinstance(point, dict) else {}
        for name in ("x", "y"):
            value = values.get(name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise _bad_points(f"points.{index}.{name}", "must be a number")
        label = values.get("label")
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < data.n_classes:
            raise _bad_points(f"points.{index}.label", f"must be a class from 0 to {data.n_classes - 1}")
        plane.append((float(values["x"]), float(values["y"])))
        labels.append(label)
    return np.array(plane), np.array(labels, dtype=np.int64)


def _bad_points(loc: str, msg: str) -> ApiError:
    return ApiError(400, "invalid points", [{"loc": loc, "msg": msg}])
