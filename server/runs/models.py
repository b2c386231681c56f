"""The trained networks of finished runs, for export, within a memory budget.

When a run's ``done`` event is published, its trainer's ``model_state()`` (the
weights as NumPy arrays, see ``server.engine.export``) is kept here under the
run's id; the least recently kept go first when the arrays would take more
than ``max_bytes``, and a run the manager forgets takes its model along.
Diverged runs keep nothing: their weights are not numbers.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections import OrderedDict

import numpy as np

from server.engine.export import state_nbytes

logger = logging.getLogger(__name__)

DEFAULT_MAX_MODEL_BYTES = 64 * 1024 * 1024


class ModelStore:
    def __init__(self, max_bytes: int = DEFAULT_MAX_MODEL_BYTES):
        self.max_bytes = max_bytes
        self._models: OrderedDict[str, tuple[dict, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def keep_from(self, run_id: str, trainer, done: dict) -> None:
        """Keep the trainer's final network (called with the ``done`` event, before it is published)."""
        state = final_state(run_id, trainer, done)
        if state is None:
            return
        size = state_nbytes(state)
        with self._lock:
            self._drop(run_id)
            if size > self.max_bytes:
                return
            self._models[run_id] = (state, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._models)))

    def get(self, run_id: str) -> dict | None:
        with self._lock:
            kept = self._models.get(run_id)
            return None if kept is None else kept[0]

    def forget(self, run_id: str) -> None:
        with self._lock:
            self._drop(run_id)

    def _drop(self, run_id: str) -> None:
        kept = self._models.pop(run_id, None)
        if kept is not None:
            self._bytes -= kept[1]


def final_state(run_id: str, trainer, done: dict) -> dict | None:
    """The trainer's final network worth keeping, from its ``done`` event; None for a diverged run."""
    data = done.get("data")
    if data is None:
        data = json.loads(done.get("data_json") or "{}")
    if data.get("reason") == "diverged":
        return None
    export = getattr(trainer, "model_state", None)
    try:
        state = export() if export is not None else None
    except Exception:  # an export that fails must not fail the run
        logger.exception("run %s: the trained network could not be kept", run_id)
        return None
    if state is None or not _finite(state):
        return None
    return state


def state_to_bytes(state: dict) -> bytes:
    """A network state as bytes (its structure as JSON, its arrays as ``.npz``), bit for bit."""
    arrays: list[np.ndarray] = []

    def strip(value):
        if isinstance(value, np.ndarray):
            arrays.append(value)
            return {"__array__": len(arrays) - 1}
        if isinstance(value, dict):
            return {key: strip(item) for key, item in value.items()}
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value

    head = json.dumps(strip(state)).encode()
    body = io.BytesIO()
    np.savez(body, *arrays)
    return len(head).to_bytes(4, "big") + head + body.getvalue()


def state_from_bytes(blob: bytes) -> dict:
    """``state_to_bytes`` undone."""
    size = int.from_bytes(blob[:4], "big")
    skeleton = json.loads(blob[4:4 + size])
    with np.load(io.BytesIO(blob[4 + size:]), allow_pickle=False) as stored:
        arrays = [stored[f"arr_{index}"] for index in range(len(stored.files))]

    def restore(value):
        if isinstance(value, dict):
            if set(value) == {"__array__"}:
                return arrays[value["__array__"]]
            return {key: restore(item) for key, item in value.items()}
        if isinstance(value, list):
            return [restore(item) for item in value]
        return value

    return restore(skeleton)


def _finite(state: dict) -> bool:
    arrays = [layer["W"] for layer in state["layers"]] + [layer["b"] for layer in state["layers"]
                                                           if layer["b"] is not None]
    return all(np.isfinite(array).all() for array in arrays)
