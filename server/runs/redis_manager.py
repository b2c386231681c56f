"""``RedisRunManager``: the ``RunManager`` of a web instance when runs live in Redis.

Selected by ``TUNING_REDIS_URL`` (``create_app`` calls ``redis_run_manager``).
Any number of web instances share one Redis; training happens in
``python -m server.worker`` processes (``server.worker``).  This side:

- ``start`` counts capacity in one Lua script (total and per client, the same
  count on every instance), writes the run's hash and queues it on ``jobs``;
- ``events_since`` reads the run's stream (``server.runs.redis_log``) and waits
  through the instance's one ``StreamFollower``;
- ``control`` appends to the run's control stream, which its worker follows,
  and sets the flags that ``status`` shows at once (paused, stop requested);
- ``status``, ``progress`` and ``load`` read the run's hash and the counts;
- a janitor thread fails the work of dead workers (as the workers also do)
  and runs that outlived their time limit without a worker to end them.

See docs/deployment.md.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from functools import partial

import redis

from server.engine.config import RunConfig, parse_update
from server.limits import RuntimeLimits
from server.runs.events import LoggedEvent, to_json
from server.runs.manager import (
    CapacityExceeded,
    RunsUnavailable,
    UnknownRun,
    address_full_message,
    client_full_message,
    service_full_message,
)
from server.runs.models import state_from_bytes
from server.runs.redis_log import StreamFollower, read_events
from server.runs.redis_slots import StreamLeases
from server.runs.redis_store import (
    NO_LIVE_WORKER,
    UNAVAILABLE,
    Keys,
    Store,
    WorkerSettings,
    connect,
    fail_lost_work,
    reachable,
)
from server.runs.redis_store import (
    worker_settings as load_worker_settings,
)
from server.runs.redis_uploads import RedisUploads, UploadBudget, bytes_client
from server.runs.run import ACTIONS, ACTIVE_STATUSES, LATEST_KINDS, NothingMore, RunConflict
from server.settings import serving_settings

logger = logging.getLogger(__name__)

#: Seconds a run may stay active past its time limit before the janitor fails it
#: (its worker normally stops it right at the limit).
OVERDUE_GRACE_SECONDS = 30.0
#: Seconds a request waits for a worker to answer a call (a gradient check takes a few at most).
CALL_TIMEOUT_SECONDS = 60
#: Seconds of one wait for the answer (below the client's socket timeout), between looks at the workers.
CALL_POLL_SECONDS = 1
#: Connections the shared pool opens before an instance serves: one per command in flight at once,
#: as in a lecture's burst of starts and streams on one instance.
CONNECTIONS_OPENED_AT_START = 32
FLAGS_BY_ACTION = {"pause": {"paused": "1"}, "resume": {"paused": "0"}, "stop": {"stop_requested": "1"}}


class StreamInterrupted(LookupError):
    """Redis went away under a stream: it ends, and the client reconnects (maybe to another instance)."""


class RedisRunManager:
    def __init__(self, store: Store, limits: RuntimeLimits | None = None, *, max_log_bytes: int,
                 max_retained_runs: int, worker_settings: WorkerSettings | None = None,
                 clock: Callable[[], float] = time.time):
        self.limits = limits or RuntimeLimits()
        #: Wall-clock seconds (shared by every machine): when runs start, and which are overdue.
        self.clock = clock
        self.store = store
        self.max_log_bytes = max_log_bytes
        self.max_retained_runs = max_retained_runs
        self.worker_settings = worker_settings or load_worker_settings()
        self._touched: dict[str, float] = {}
        self._touch_every = min(self.limits.idle_timeout_seconds / 4, 5.0)
        self._closed = threading.Event()
        try:
            store.ensure_group()
        except UNAVAILABLE as error:
            logger.warning("Redis is unreachable at start-up (%s); runs wait for it", error)
        self._follower = StreamFollower(store)
        self._bytes = bytes_client(store.client)
        #: Open event streams, counted for every instance (``server.web.sse.SharedStreamSlots``).
        self.stream_leases = StreamLeases(store)
        self._janitor = threading.Thread(target=self._clean_forever, name="redis-janitor", daemon=True)
        self._janitor.start()

    # --- the RunManager interface ---------------------------------------------

    #: ``start`` counts the runs of each network address too (``server.web.clients.start_run``).
    counts_addresses = True

    def start(self, config: RunConfig, client: str, address: str | None = None) -> dict:
        """Start a run for ``client`` (of ``address``: the client itself unless given), counted centrally."""
        address = client if address is None else address
        with reachable():
            if self._closed.is_set():
                raise CapacityExceeded("the service is shutting down", retry_after=30)
            run_id = secrets.token_urlsafe(16)
            now = self.clock()
            pace = config.training.epochs_per_second
            expected_end = now + (config.training.epochs / pace if pace else 1.0)
            state = {"status": "running", "client": client, "address": address,
                     "config": config.model_dump_json(), "epoch": "0", "last_id": "0", "paused": "0",
                     "stop_requested": "0", "epochs_per_second": to_json(pace), "started_at": repr(now),
                     "last_activity": repr(now)}
            keys = self.store.keys
            code, soonest = self.store.start_script(
                keys=[keys.active, keys.client(client), keys.run(run_id), keys.jobs, keys.started,
                      keys.address(address), keys.workers],
                args=[self.limits.max_concurrent_runs, self.limits.max_runs_per_client, run_id,
                      repr(expected_end), json.dumps({"limits": self._run_limits()}), self._lifetime_bound(),
                      repr(now), self.limits.max_runs_per_address, repr(time.time()),
                      *[item for pair in state.items() for item in pair]])
        if code == NO_LIVE_WORKER:
            raise RunsUnavailable("no training worker is running; try again shortly", retry_after=10)
        if code:
            raise CapacityExceeded(self._refusal(code), _retry_after(soonest, now))
        return snapshot(run_id, state)

    def _refusal(self, code: int) -> str:
        """What the start script's refusal ``code`` says: the service, the client or its address is full."""
        limits = self.limits
        if code == 1:
            return service_full_message(limits)
        if code == 2:
            return client_full_message(limits.max_runs_per_client, limits)
        return address_full_message(limits.max_runs_per_address, limits.max_runs_per_address)

    def events_since(self, run_id: str, last_id: int, timeout: float) -> list[LoggedEvent]:
        key = self.store.keys.events(run_id)
        try:
            self._touch(run_id)
            # A client streaming along: the follower has seen its stream up to last_id.
            waited = self._follower.wait_followed(key, last_id, timeout)
            if waited:
                return waited
            events, status = read_events(self.store, run_id, last_id)
            if status is None:
                raise UnknownRun(run_id)
            if not events and waited is None and status in ACTIVE_STATUSES:  # not waited yet
                woken = self._follower.wait(key, last_id, timeout)
                if woken is not None:
                    return woken
                events, status = read_events(self.store, run_id, last_id)
        except UNAVAILABLE as error:
            raise StreamInterrupted(str(error)) from None
        if not events and status not in ACTIVE_STATUSES:
            raise NothingMore(run_id)  # ended (or expired) with everything delivered
        return events

    def control(self, run_id: str, action: str, payload: dict | None = None) -> dict:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
        keys = self.store.keys
        with reachable():
            state = self._state(run_id)
            status = snapshot_status(state)
            if status not in ACTIVE_STATUSES:
                raise RunConflict(f"the run has already ended ({status}); cannot {action} it")
            if action == "step" and status != "paused":
                raise RunConflict("step advances a paused run by one epoch; pause it first")
            changes = None
            flags = {**FLAGS_BY_ACTION.get(action, {}), "last_activity": repr(time.time())}
            if action == "update":
                changes = parse_update(payload, RunConfig.model_validate_json(state["config"]))
                pace = changes.get("training", {}).get("epochs_per_second")
                if pace is not None:
                    flags["epochs_per_second"] = to_json(pace)
            pipe = self.store.client.pipeline(transaction=True)
            self.store.queue_script(
                pipe, self.store.control_script, [keys.run(run_id), keys.control(run_id)],
                [action, to_json(changes), self._lifetime_bound(),  # the run's end shortens it
                 *[item for pair in flags.items() for item in pair]])
            pipe.hgetall(keys.run(run_id))
            sent, state = pipe.execute()
        if not sent:  # it ended meanwhile
            raise RunConflict(f"the run has already ended ({snapshot_status(state)}); cannot {action} it")
        return snapshot(run_id, state)

    def status(self, run_id: str) -> dict:
        with reachable():
            state = self._state(run_id, touch=True)
        return snapshot(run_id, state)

    def progress(self, run_id: str) -> tuple[str, int]:
        with reachable():
            pipe = self.store.client.pipeline(transaction=False)
            pipe.hmget(self.store.keys.run(run_id), ["status", "paused", "last_id"])
            self._touch(run_id, pipe)
            status, paused, last_id = pipe.execute()[0]
        if status is None:
            raise UnknownRun(run_id)
        return snapshot_status({"status": status, "paused": paused}), int(last_id)

    def load(self) -> dict:
        with reachable():
            runs = self.store.client.zcard(self.store.keys.active)
        return {"runs": runs, "capacity": self.limits.max_concurrent_runs}

    def health(self) -> tuple[str | None, dict]:
        """``(reason the service cannot take runs, or None; fields for /healthz)``."""
        try:
            workers = self.store.live_workers()
        except UNAVAILABLE as error:
            return f"Redis is unavailable: {error}", {}
        if not workers:
            return "no training worker is alive (start one with python -m server.worker)", {"workers": 0}
        return None, {"workers": workers}

    def model(self, run_id: str) -> dict | None:
        """The finished run's trained network, kept in Redis by its worker; None if none was kept."""
        with reachable():
            self._state(run_id)
            blob = self._bytes.get(self.store.keys.model(run_id))
        return None if blob is None else state_from_bytes(blob)

    def upload_store(self, ttl_seconds: float, per_client: int, bytes_per_client: int,
                     bytes_total: int) -> RedisUploads:
        """Uploaded data sets in Redis, where every instance and worker finds them."""
        return RedisUploads(self.store, UploadBudget(ttl_seconds, per_client, bytes_per_client, bytes_total))

    def gradient_check(self, config: dict, **options) -> dict:
        """``server.engine.gradient_check`` in a worker, keeping its seconds of work off the web tier."""
        keys = self.store.keys
        reply = keys.reply(secrets.token_urlsafe(12))
        call = {"name": "gradient_check", "args": [config], "kwargs": options, "reply": reply}
        with reachable():
            if not self.store.live_workers():
                raise RunsUnavailable("no training worker is running; try again shortly", retry_after=10)
            entry_id = self.store.client.xadd(keys.jobs, {"call": json.dumps(call)})
            outcome = json.loads(self._await_reply(reply, entry_id))
        if "lost" in outcome:
            raise RunsUnavailable(outcome["lost"])
        if "error" in outcome:
            raise RuntimeError(outcome["error"])
        return outcome["result"]

    def _await_reply(self, reply: str, entry_id: str) -> str:
        """The answer to a call, waited for in short reads (each within the client's socket timeout).

        A worker that dies with the call is noticed by the upkeep, which answers ``lost``; when no
        worker is alive at all (the only one died before taking it), the call is withdrawn at once.
        """
        client = self.store.client
        deadline = time.monotonic() + CALL_TIMEOUT_SECONDS
        while True:
            answer = client.blpop([reply], timeout=CALL_POLL_SECONDS)
            if answer is not None:
                return answer[1]
            if not self.store.live_workers():
                message = "no training worker is running; try again shortly"
            elif time.monotonic() >= deadline:
                message = "no training worker answered in time; try again shortly"
            else:
                continue
            pipe = client.pipeline(transaction=True)
            pipe.xdel(self.store.keys.jobs, entry_id)
            pipe.delete(reply)
            pipe.execute()
            raise RunsUnavailable(message, retry_after=10)

    # --- lifecycle -------------------------------------------------------------

    def open_connections(self, count: int = CONNECTIONS_OPENED_AT_START) -> None:
        """Connect ``count`` of the shared pool's connections now, before the first requests.

        Each command takes a free pooled connection, or opens one (a connect, a
        handshake and the gevent resolver's thread) while it waits.  In a
        freshly started instance's first burst every request opened its own, on
        cores the burst needed: its first events came 50-100 ms later than the
        next burst's.
        """
        pool = self.store.client.connection_pool
        held = []
        try:
            for _ in range(count):
                held.append(pool.get_connection())
        except UNAVAILABLE as error:
            logger.warning("Redis is unreachable at start-up (%s); connections open as requests need them",
                           error)
        finally:
            for connection in held:
                pool.release(connection)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop following streams.  The runs go on in their workers: other instances serve them."""
        self._closed.set()
        self._follower.close()
        self.stream_leases.close()
        self._janitor.join(timeout)

    def clean(self) -> None:
        """One pass of the upkeep: fail dead workers' work, and active runs far past their time limit.

        One process does it for all in each interval (``Store.take_turn``), the workers included.
        """
        fail_lost_work(self.store, "web-janitor", self.worker_settings.lost_after_seconds)
        cutoff = self.clock() - self.limits.max_run_seconds - OVERDUE_GRACE_SECONDS
        for run_id in self.store.client.zrangebyscore(self.store.keys.started, "-inf", cutoff):
            if not self.store.fail_run(run_id, "the run outlived its time limit without a worker to end it",
                                       self.limits.finished_retention_seconds, self.max_retained_runs):
                # Already ended, or its keys are gone: either way it holds no capacity.
                self.store.client.zrem(self.store.keys.started, run_id)
                self.store.client.zrem(self.store.keys.active, run_id)

    def _clean_forever(self) -> None:
        # Each process asks often; the turn goes to one of them per interval.
        while not self._closed.wait(min(interval := self.worker_settings.lost_after_seconds / 2, 0.5)):
            try:
                if self.store.take_turn("upkeep", interval):
                    self.clean()
            except UNAVAILABLE:
                pass  # nothing to clean while Redis is away
            except Exception:  # the janitor must outlive one bad pass
                logger.exception("cleaning up runs in Redis failed")

    # --- helpers ---------------------------------------------------------------

    def _run_limits(self) -> dict:
        """What the worker must enforce for this run: the limits of the instance that accepted it."""
        limits = self.limits
        return {"max_events_per_run": limits.max_events_per_run, "max_log_bytes": self.max_log_bytes,
                "max_run_seconds": limits.max_run_seconds,
                "idle_timeout_seconds": limits.idle_timeout_seconds,
                "finished_retention_seconds": limits.finished_retention_seconds,
                "max_retained_runs": self.max_retained_runs}

    def _lifetime_bound(self) -> int:
        """Seconds a run's keys may live at most (a safety net; ending a run sets the real retention)."""
        limits = self.limits
        return math.ceil(2 * limits.max_run_seconds + limits.finished_retention_seconds + 600)

    def _state(self, run_id: str, *, touch: bool = False) -> dict:
        """The run's hash; with ``touch``, the run touched in the same round trip."""
        pipe = self.store.client.pipeline(transaction=False)
        pipe.hgetall(self.store.keys.run(run_id))
        if touch:
            self._touch(run_id, pipe)
        state = pipe.execute()[0]
        if not state or "status" not in state:
            raise UnknownRun(run_id)
        return state

    def _touch(self, run_id: str, pipe: redis.client.Pipeline | None = None) -> None:
        """Record that someone watches the run (at most every few seconds per run and instance).

        With ``pipe``, the touch goes with the pipeline's other commands (one round trip for a
        status and its touch); it leaves a run that does not exist as it is.
        """
        now = time.monotonic()
        if now - self._touched.get(run_id, -math.inf) < self._touch_every:
            return
        if len(self._touched) > 10_000:
            self._touched = {key: at for key, at in self._touched.items() if now - at < self._touch_every}
        self._touched[run_id] = now
        keys, args = [self.store.keys.run(run_id)], [repr(time.time())]
        if pipe is None:
            self.store.touch_script(keys=keys, args=args)
        else:
            self.store.queue_script(pipe, self.store.touch_script, keys, args)


def snapshot_status(state: dict) -> str:
    status = state.get("status")
    if status in ACTIVE_STATUSES:
        return "paused" if state.get("paused") == "1" else "running"
    return status


def snapshot(run_id: str, state: dict) -> dict:
    """A run's hash as the ``status`` the routes answer (the embedded manager's shape)."""
    status = snapshot_status(state)
    latest = {"epoch": int(state.get("epoch", 0))}
    for kind in LATEST_KINDS:
        text = state.get(f"latest:{kind}")
        if text is not None:
            latest[kind] = json.loads(text)
    return {"id": run_id, "status": status, "config": json.loads(state["config"]), "latest": latest,
            "epochs_per_second": json.loads(state.get("epochs_per_second", "null")),
            "stop_requested": state.get("stop_requested") == "1" and status in ACTIVE_STATUSES,
            "last_event_id": int(state.get("last_id", 0))}


def _retry_after(soonest: str, now: float) -> int:
    """Whole seconds until the soonest expected end, between 1 and 60 (30 if none can tell)."""
    if not soonest:
        return 30
    return min(max(math.ceil(float(soonest) - now), 1), 60)


def redis_run_manager(app, url: str, limits: RuntimeLimits) -> RedisRunManager:
    """The app's run manager over Redis at ``url``; searches then send their trials to the workers too."""
    import atexit

    from server.search.redis_executor import RedisTrialExecutor

    prefix = app.config.get("REDIS_PREFIX") or serving_settings().redis_prefix
    store = Store(connect(url), Keys(prefix))
    manager = RedisRunManager(store, limits, max_log_bytes=app.config["MAX_LOG_BYTES_PER_RUN"],
                              max_retained_runs=app.config["MAX_RETAINED_RUNS"])
    app.config.setdefault("SEARCH_EXECUTOR", partial(RedisTrialExecutor, store=store))
    atexit.register(manager.shutdown, 2.0)
    return manager
