"""A run's event log: ordered, bounded, with integer ids, serialized once.

Each event is stored as strict JSON text (no NaN or Infinity: such values become
``null``), so every stream and every reconnect sends the same bytes without
serializing again.  Ids start at 1 and increase by one per event, so
``since=0`` (or no ``Last-Event-ID``) means "from the beginning".

The log keeps at most ``max_events`` events and ``max_bytes`` bytes of JSON.
When it must drop some, it drops the oldest ones but always keeps the first
event (``config``: a late client needs it to draw anything) and the latest
one (``done`` at the end of a run).  A client asking for events that were
dropped gets a ``gap`` event in their place (see ``EventLog.since``).
``EventLog.trim`` drops events the same way on demand: the run manager uses
it to keep every log together within a ``LogBudget``.
"""

from __future__ import annotations

import functools
import json
import math
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import Any

TERMINAL_EVENTS = frozenset({"done", "error"})
GAP_EVENT = "gap"
# What a logged event costs beyond its JSON text: the event object, its id and
# name, the text's own header (136 + 49 bytes, measured with tracemalloc).
EVENT_OVERHEAD_BYTES = 200


@dataclass(frozen=True)
class LoggedEvent:
    """One event as streamed: ``id`` (1, 2, ...), ``event`` (the name), ``data`` (JSON text)."""

    id: int
    event: str
    data: str

    @property
    def terminal(self) -> bool:
        return self.event in TERMINAL_EVENTS


def _plain(value: Any) -> Any:
    """``value`` with NumPy scalars and arrays as Python values and non-finite floats as None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if hasattr(value, "tolist"):  # NumPy scalars and arrays
        return _plain(value.tolist())
    return value


def to_json(value: Any) -> str:
    """Compact JSON that any strict parser accepts: NaN and +-Infinity become ``null``.

    NumPy scalars and arrays are accepted too.  The common case (already plain
    and finite) takes one ``json.dumps`` call.
    """
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return json.dumps(_plain(value), separators=(",", ":"), allow_nan=False)


#: A boundary event's grids of rounded probabilities: ``z`` (two classes), ``confidence`` (more).
PROBABILITY_GRIDS = ("z", "confidence")


def event_data_json(name: str, data: Any) -> str:
    """``to_json(data)`` for an event called ``name``, the same text, faster for ``boundary`` events.

    A boundary event's grid of probabilities (``PROBABILITY_GRIDS``, rounded to
    ``BOUNDARY_DECIMALS``, 1,600 numbers) takes ``json.dumps`` about 0.9 ms,
    writing each number through ``float.__repr__``: a fifth of what a paced
    run costs its worker.  The grid's texts come from a table of every
    rounded value instead; a grid of anything else takes the common path.
    """
    if name != "boundary" or not isinstance(data, dict):
        return to_json(data)
    members = []
    for key, value in data.items():
        text = _probability_grid_json(value) if key in PROBABILITY_GRIDS else None
        members.append(f"{json.dumps(key)}:{to_json(value) if text is None else text}")
    return "{" + ",".join(members) + "}"


@functools.cache
def _probability_texts():
    import numpy as np

    from server.engine.trainer import BOUNDARY_DECIMALS

    steps = 10 ** BOUNDARY_DECIMALS
    return steps, np.array([repr(step / steps) for step in range(steps + 1)], dtype=object)


def _probability_grid_json(grid: Any) -> str | None:
    """``to_json(grid)`` for rows of probabilities, each ``k / 10**BOUNDARY_DECIMALS``, else None."""
    import numpy as np

    steps, texts = _probability_texts()
    try:
        values = np.asarray(grid, dtype=np.float64)
    except (TypeError, ValueError):  # ragged rows, or not numbers
        return None
    if values.ndim != 2 or values.size == 0:
        return None
    with np.errstate(invalid="ignore"):
        index = np.rint(values * steps)
        exact = np.array_equal(index / steps, values) and not np.signbit(values).any()
    if not exact or index.max() > steps:
        return None
    rows = texts[index.astype(np.intp)].tolist()  # lists join three times faster than object arrays
    return "[" + ",".join(["[" + ",".join(row) + "]" for row in rows]) + "]"


class EventLog:
    """The ordered, bounded log of one run.  Not thread-safe: the run's lock guards it.

    ``on_resize(delta)``, when given, hears every change of ``memory_bytes``
    (a ``LogBudget`` adds up the logs of every run that way).
    """

    def __init__(self, max_events: int, max_bytes: int, on_resize: Callable[[int], None] | None = None):
        if max_events < 2:
            raise ValueError(f"max_events must be at least 2 (the first and the latest), got {max_events}")
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._on_resize = on_resize
        self._first: LoggedEvent | None = None
        self._rest: deque[LoggedEvent] = deque()
        self._bytes = 0
        self.last_id = 0
        self.dropped = 0

    def __len__(self) -> int:
        return (self._first is not None) + len(self._rest)

    @property
    def memory_bytes(self) -> int:
        """About what the log takes in memory: its JSON text plus ``EVENT_OVERHEAD_BYTES`` an event."""
        return self._bytes + EVENT_OVERHEAD_BYTES * len(self)

    def append(self, event: str, data: Any) -> LoggedEvent:
        """Store an event (``data`` a JSON-like value or JSON text) under the next id."""
        text = data if isinstance(data, str) else to_json(data)
        self.last_id += 1
        logged = LoggedEvent(self.last_id, event, text)
        self._bytes += len(text)
        grown = len(text) + EVENT_OVERHEAD_BYTES
        if self._first is None:
            self._first = logged
        else:
            self._rest.append(logged)
            while len(self._rest) > 1 and (len(self) > self.max_events or self._bytes > self.max_bytes):
                grown -= self._drop_oldest()
        self._resized(grown)
        return logged

    def trim(self, at_least: int) -> int:
        """Drop the oldest events (never the first or the latest) until ``at_least`` bytes are freed.

        Returns the bytes freed (less when only the first and latest are left).
        A client that asks for dropped events gets a ``gap`` in their place.
        """
        freed = 0
        while freed < at_least and len(self._rest) > 1:
            freed += self._drop_oldest()
        self._resized(-freed)
        return freed

    def _drop_oldest(self) -> int:
        oldest = self._rest.popleft()
        self._bytes -= len(oldest.data)
        self.dropped += 1
        return len(oldest.data) + EVENT_OVERHEAD_BYTES

    def _resized(self, delta: int) -> None:
        if delta and self._on_resize is not None:
            self._on_resize(delta)

    def since(self, last_id: int) -> list[LoggedEvent]:
        """Every retained event with an id above ``last_id``, in order.

        When events above ``last_id`` were dropped, a ``gap`` event stands in
        for them: its data is ``{"first": a, "last": b, "count": n}`` (the ids
        missing) and its id is ``b``, so a client that reconnects after it
        resumes with the events that follow.
        """
        result: list[LoggedEvent] = []
        if self._first is not None and self._first.id > last_id:
            result.append(self._first)
        if not self._rest:
            return result
        oldest_kept = self._rest[0].id
        first_missing = max(last_id + 1, self._first.id + 1)
        if first_missing < oldest_kept:
            last_missing = oldest_kept - 1
            gap = {"first": first_missing, "last": last_missing, "count": last_missing - first_missing + 1}
            result.append(LoggedEvent(last_missing, GAP_EVENT, to_json(gap)))
        if last_id < oldest_kept:
            result.extend(self._rest)
        else:
            # Followers ask for the newest few events: walk from the newest end.
            newer = self._rest[-1].id - last_id
            result.extend(reversed(list(islice(reversed(self._rest), max(newer, 0)))))
        return result


class LogBudget:
    """The memory the event logs of all runs take together, and of each client's runs.

    Logs report their changes through ``charge``; the run manager reads
    ``excess`` and trims logs until it is 0.  Thread-safe.
    """

    def __init__(self, total: int, per_client: int):
        self.total = total
        self.per_client = per_client
        self._used = 0
        self._by_client: Counter[str] = Counter()
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        with self._lock:
            return self._used

    def used_by(self, client: str) -> int:
        with self._lock:
            return self._by_client[client]

    def charge(self, client: str, delta: int) -> None:
        with self._lock:
            self._used += delta
            self._by_client[client] += delta
            if self._by_client[client] <= 0:
                del self._by_client[client]

    def excess(self, client: str | None = None) -> int:
        """Bytes over the total budget (``client`` None), or over ``client``'s own share."""
        with self._lock:
            if client is None:
                return max(self._used - self.total, 0)
            return max(self._by_client[client] - self.per_client, 0)
