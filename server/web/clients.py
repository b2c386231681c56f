"""Who a request comes from, for the per-client limits: a browser's token, within its address's ceiling.

A class behind a school's NAT shares one address, so the per-client limits
(runs, open streams, event-log memory) are keyed on an opaque token that each
page keeps in ``localStorage`` and sends as the ``X-Tuning-Client`` header, or
as the ``client`` query parameter where it cannot set headers (``EventSource``).
A token is only a name for a quota: it is validated (16 to 64 letters,
digits, ``-`` or ``_``; anything else is a 400 naming where it came from),
carries no rights over anyone's runs, and is scoped to the address it comes
from, so a token copied to another network is another client.  Every address
also has a looser ceiling over all its tokens (``max_runs_per_address`` runs,
``SSE_STREAMS_PER_ADDRESS`` streams), so minting tokens gains nothing beyond
it.  A request without a token is the client "its address".

The address is ``request.remote_addr``: the peer, or behind ``TRUSTED_PROXY_COUNT``
reverse proxies the address they put in ``X-Forwarded-For`` (docs/api.md).
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app, request

from server.engine.config import RunConfig
from server.runs.manager import CapacityExceeded, RunManager, UnknownRun, address_full_message
from server.runs.run import ACTIVE_STATUSES
from server.web.errors import ApiError

CLIENT_HEADER = "X-Tuning-Client"
CLIENT_PARAMETER = "client"
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
TOKEN_RULE = "must be 16 to 64 letters, digits, '-' or '_' (the page makes one and keeps it)"


@dataclass(frozen=True)
class Client:
    """``key`` names the client's own quota; ``address`` the ceiling it shares."""

    key: str
    address: str


def current_client() -> Client:
    """The client of this request: its token (header, else query parameter) at its address.

    A malformed token is a 400 whose detail names the header or parameter.
    """
    address = request.remote_addr or "unknown"
    for loc, token in ((CLIENT_HEADER, request.headers.get(CLIENT_HEADER)),
                       (CLIENT_PARAMETER, request.args.get(CLIENT_PARAMETER))):
        if token is None:
            continue
        if not TOKEN.fullmatch(token):
            raise ApiError(400, "invalid client token", [{"loc": loc, "msg": TOKEN_RULE}])
        return Client(f"{token}@{address}", address)
    return Client(address, address)


def init_app(app: Flask) -> None:
    limits = app.config["RUNTIME_LIMITS"]
    app.extensions["address_ceiling"] = AddressCeiling(limits.max_runs_per_address, limits.max_run_seconds)


def start_run(runs: RunManager, config: RunConfig, client: Client) -> dict:
    """``runs.start`` for ``client``, within its address's ceiling (``CapacityExceeded`` beyond it).

    A backend shared by several instances (Redis) counts the address's runs
    itself, with the rest of its capacity, so that the ceiling is one count.
    """
    if getattr(runs, "counts_addresses", False):
        return runs.start(config, client.key, address=client.address)
    ceiling: AddressCeiling = current_app.extensions["address_ceiling"]
    return ceiling.start(runs, config, client)


class AddressCeiling:
    """At most ``max_runs`` active runs per address, whatever tokens its clients send.

    It remembers the runs each address started and asks the run manager about
    them only when the address is at its ceiling; a run older than
    ``max_run_seconds`` has ended by then, so it is forgotten unasked.  It
    works with any ``RunManager`` that lives in one process (the Redis
    backend counts addresses itself: ``start_run``).
    """

    def __init__(self, max_runs: int, max_run_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.max_runs = max_runs
        self.max_run_seconds = max_run_seconds
        self._clock = clock
        self._started: dict[str, dict[str, float]] = {}
        self._in_order: deque[tuple[float, str, str]] = deque()  # (started at, address, run id), oldest first
        # One start at a time, so that two cannot both pass the check; a start is a few dict operations.
        self._lock = threading.Lock()

    def start(self, runs: RunManager, config: RunConfig, client: Client) -> dict:
        with self._lock:
            started = self._forget_old(client.address)
            if len(started) >= self.max_runs:
                for run_id in [run_id for run_id in started if not _is_active(runs, run_id)]:
                    del started[run_id]
            if len(started) >= self.max_runs:
                raise CapacityExceeded(address_full_message(len(started), self.max_runs), 30)
            status = runs.start(config, client.key)
            now = self._clock()
            started[status["id"]] = now
            self._in_order.append((now, client.address, status["id"]))
        return status

    def active(self, address: str) -> int:
        """Runs of ``address`` that may still be going (those not yet known to have ended)."""
        with self._lock:
            return len(self._started.get(address, ()))

    def _forget_old(self, address: str) -> dict[str, float]:
        """``address``'s runs younger than ``max_run_seconds``; addresses with none left are dropped."""
        oldest = self._clock() - self.max_run_seconds
        while self._in_order and self._in_order[0][0] < oldest:
            _, other, run_id = self._in_order.popleft()
            runs = self._started.get(other, {})
            runs.pop(run_id, None)
            if not runs:
                self._started.pop(other, None)
        return self._started.setdefault(address, {})


def _is_active(runs: RunManager, run_id: str) -> bool:
    try:
        status, _ = runs.progress(run_id)
    except UnknownRun:
        return False
    return status in ACTIVE_STATUSES
