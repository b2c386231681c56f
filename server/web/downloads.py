"""Blueprint ``downloads``: a run's curves as CSV and its trained network as JSON or PyTorch code.

``GET /api/runs/<id>/metrics.csv``: one row per ``metrics`` event still in the
run's log (a very long run's oldest events may have been trimmed to fit the
memory budget; its ``gap`` says so on the stream), live or finished.
``GET /api/runs/<id>/export?format=json|pytorch``: the network as the run
left it, once it has ended (``done``; not a diverged run).
"""

from __future__ import annotations

import csv
import io
import json

from flask import Blueprint, Flask, current_app, request

from server.engine.export import pytorch_source, state_as_json
from server.runs.run import NothingMore
from server.web.errors import ApiError, json_response

bp = Blueprint("downloads", __name__)

METRICS_COLUMNS = ("epoch", "iteration", "learning_rate", "train_loss", "train_cost", "train_accuracy",
                   "dev_loss", "dev_accuracy")
TRAIN_DEV_COLUMNS = ("train_dev_loss", "train_dev_accuracy")
LAYER_COLUMNS = ("grad_norm", "weight_norm", "update_ratio")
EXPORT_FORMATS = ("json", "pytorch")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _manager():
    return current_app.extensions["run_manager"]


def _download(body: str, mimetype: str, filename: str):
    response = current_app.response_class(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/api/runs/<run_id>/metrics.csv")
def metrics_csv(run_id: str):
    try:
        events = _manager().events_since(run_id, 0, 0.0)
    except NothingMore:
        events = []
    rows = [json.loads(event.data) for event in events if event.event == "metrics"]
    return _download(metrics_table(rows), "text/csv", f"run-{run_id}-metrics.csv")


def metrics_table(rows: list[dict]) -> str:
    """CSV text: a header, then one line per metrics payload; per-layer columns numbered from 1."""
    with_train_dev = any("train_dev_loss" in row for row in rows)
    n_layers = max((len(row.get("layers") or []) for row in rows), default=0)
    columns = list(METRICS_COLUMNS) + (list(TRAIN_DEV_COLUMNS) if with_train_dev else [])
    columns += [f"{name}_{index + 1}" for index in range(n_layers) for name in LAYER_COLUMNS]
    columns.append("elapsed_s")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        flat = dict(row)
        for index, layer in enumerate(row.get("layers") or []):
            flat.update({f"{name}_{index + 1}": layer.get(name) for name in LAYER_COLUMNS})
        writer.writerow(["" if flat.get(column) is None else flat[column] for column in columns])
    return out.getvalue()


@bp.get("/api/runs/<run_id>/export")
def export_run(run_id: str):
    chosen = request.args.get("format", "json")
    if chosen not in EXPORT_FORMATS:
        raise ApiError(400, "unknown export format", [{
            "loc": "format", "msg": f"must be one of {', '.join(EXPORT_FORMATS)}, not {chosen!r}"}])
    manager = _manager()
    status = manager.status(run_id)["status"]
    keeper = getattr(manager, "model", None)
    state = keeper(run_id) if keeper is not None else None
    if state is None:
        if status in ("running", "paused"):
            raise ApiError(409, "the run is still training; its network can be exported once it has ended")
        if status == "diverged":
            raise ApiError(409, "the run diverged: its weights are not numbers; there is nothing to export")
        raise ApiError(404, "this run's trained network is not kept (it failed, or the memory for "
                            "trained networks needed its place)")
    if chosen == "json":
        response = json_response({"run_id": run_id, **state_as_json(state)})
        response.headers["Content-Disposition"] = f'attachment; filename="run-{run_id}-model.json"'
        return response
    source = pytorch_source(state, f"Run {run_id}, trained in Tuning Playground")
    return _download(source, "text/x-python", f"run_{run_id.replace('-', '_')}_model.py")
