"""A training worker: takes runs and search trials from Redis and trains them (``python -m server.worker``).

Work comes from the ``jobs`` stream through the consumer group ``workers``, so
each run or trial reaches exactly one worker, and stays pending there until
it ends.  A run trains with the embedded backend's own ``Run`` (pacing,
pause, step, stop, live updates), publishing to a ``RedisEventLog`` instead
of memory; all the runs of a worker take turns in one thread, by slices
(``server.runs.turns``), and trials and gradient checks have threads of
their own.  Its controls arrive on its control
stream, which one ``StreamMultiplexer`` thread follows for every run here;
they take effect at the next epoch boundary, as in the embedded backend.

Every ``heartbeat_seconds`` the worker refreshes its heartbeat key, resets
the idle time of its pending entries (so that nobody takes them over), stops
its runs that hit their time or idle limit, and fails the work of workers
whose entries have been idle for ``lost_after_seconds`` (they are dead).  A
dead worker's runs are failed, not resumed: see ``redis_store.LOST_RUN_MESSAGE``.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from functools import partial

from server.engine.config import RunConfig
from server.engine.uploads import add_upload_source
from server.limits import RuntimeLimits
from server.runs.events import LoggedEvent, to_json
from server.runs.manager import idle_stop_message, time_limit_stop_message
from server.runs.models import DEFAULT_MAX_MODEL_BYTES, final_state, state_to_bytes
from server.runs.redis_log import LogLimits, RedisEventLog, StreamMultiplexer, entry_event
from server.runs.redis_store import GROUP, UNAVAILABLE, Store, WorkerSettings, fail_lost_work
from server.runs.redis_uploads import RedisUploads, bytes_client
from server.runs.redis_writer import EventWriter
from server.runs.run import ACTIVE_STATUSES, Run, RunConflict, TrainerFactory
from server.runs.threads import WaitingThreads
from server.runs.turns import RunScheduler

logger = logging.getLogger(__name__)

SHUTDOWN_MESSAGE = "stopped: the training worker is shutting down"
#: Seconds between a trial's looks at its search's stop flag in Redis.
TRIAL_STOP_POLL_SECONDS = 0.25


class WorkerRun(Run):
    """A ``Run`` whose log and controls are in Redis.

    Each event also records the epoch and config it leaves behind.  Controls
    (numbered 1, 2, ... in the run's control stream) are read with every
    event and applied at the next epoch gate, so one sent before an epoch's
    last event holds at that epoch's end however busy the worker's follower
    is; the follower pushes them too, which wakes a paused run.  Each control
    applies once, in order.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._controls_lock = threading.Lock()
        self.applied_control = 0
        self.log.follow_controls(lambda: self.applied_control)

    def apply_controls(self, controls: list[LoggedEvent]) -> None:
        with self._controls_lock:
            for control in controls:
                if control.id <= self.applied_control:
                    continue
                self.applied_control = control.id
                changes = json.loads(control.data)
                try:
                    self.control(control.event, changes if control.event == "update" else None)
                except (RunConflict, ValueError) as error:  # e.g. a step that raced a resume
                    logger.info("run %s: control %s not applied: %s", self.id, control.event, error)

    def pass_gate(self, epochs: int) -> float | None:
        self.apply_controls(self.log.take_controls())
        return super().pass_gate(epochs)

    def _publish(self, event: dict, epoch: int, trainer) -> bool:
        staged = {"epoch": epoch}
        if trainer is not None and event["event"] == "update":
            staged["config"] = trainer.config.model_dump_json()
        self.log.stage(**staged)
        return super()._publish(event, epoch, trainer)


class _Controls(StreamMultiplexer):
    """Follows the control streams of this worker's runs and applies each control to its run."""

    def __init__(self, store: Store, runs: Callable[[str], WorkerRun | None]):
        super().__init__(store, "redis-controls", block_ms=2000)
        self._runs = runs

    def deliver(self, key: str, watch, events: list[LoggedEvent]) -> None:
        run = self._runs(key)
        if run is not None:
            run.apply_controls(events)


class Worker:
    def __init__(self, store: Store, settings: WorkerSettings | None = None, *,
                 trainer_factory: TrainerFactory | None = None, trial_function=None,
                 worker_id: str | None = None):
        self.store = store
        self.settings = settings or WorkerSettings()
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self._trainer_factory = trainer_factory or _engine_trainer
        self._trial_function = trial_function
        self._lock = threading.Condition()
        self._busy = 0
        self._runs: dict[str, tuple[WorkerRun, str, dict]] = {}  # control key -> (run, jobs entry, limits)
        self._trials: dict[str, str] = {}  # jobs entry of a trial or call -> its fields (for the heartbeat)
        self._unfinished: list[tuple[str, str, dict]] = []  # runs whose end could not be recorded yet
        self._threads = WaitingThreads("worker-task")  # for trials and calls; runs take turns in one thread
        self._scheduler = RunScheduler("worker-runs")
        self._writer = EventWriter(store, self.id)  # the runs' events, batched, off the runs' thread
        self._stopping = threading.Event()  # set: take no more work
        self._closed = threading.Event()  # set: every run here has ended; stop the heartbeat
        self._controls = _Controls(store, self._run_of)
        self._loops: list[threading.Thread] = []
        self._bytes = bytes_client(store.client)
        # The runs here find uploaded data sets in Redis (held weakly by the engine: kept here).
        self._uploads = RedisUploads(store)
        add_upload_source(self._uploads)

    # --- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Register, then take work and heartbeat in background threads."""
        self.store.ensure_group()
        self._heartbeat()
        for target, name in ((self._take_forever, "worker-take"), (self._beat_forever, "worker-heartbeat")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._loops.append(thread)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop taking work, stop the runs here (``done`` reason ``stopped``), wait for them, sign off."""
        deadline = time.monotonic() + timeout
        self._stopping.set()
        taker, heartbeat = self._loops or (None, None)
        if taker is not None:
            taker.join(timeout)  # from here on no run starts here
        with self._lock:
            runs = [run for run, _, _ in self._runs.values()]
        for run in runs:
            run.stop("shutdown", SHUTDOWN_MESSAGE)
        with self._lock:
            self._lock.wait_for(lambda: self._busy == 0, max(deadline - time.monotonic(), 0.1))
        self._closed.set()  # the heartbeat went on until the runs had ended
        self._scheduler.close()
        self._writer.close()
        if heartbeat is not None:
            heartbeat.join(max(deadline - time.monotonic(), 0.1))
        self._controls.close()
        try:
            self._sign_off()
        except UNAVAILABLE:
            pass

    @property
    def busy(self) -> int:
        with self._lock:
            return self._busy

    # --- taking work -----------------------------------------------------------

    def _take_forever(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                self._lock.wait_for(lambda: self._busy < self.settings.concurrency or self._stopping.is_set(),
                                    1.0)
                free = self.settings.concurrency - self._busy
            if free <= 0 or self._stopping.is_set():
                continue
            try:
                block_ms = int(min(self.settings.heartbeat_seconds, 1.0) * 1000)
                reply = self.store.client.xreadgroup(GROUP, self.id, {self.store.keys.jobs: ">"}, count=free,
                                                     block=block_ms)
            except UNAVAILABLE:
                time.sleep(0.5)
                continue
            for _, entries in reply or ():
                for entry_id, fields in entries:
                    if self._stopping.is_set():
                        self._hand_back(entry_id, fields)
                    else:
                        self._begin(entry_id, fields)
            if reply:
                self._controls.wake()  # to follow the control streams of the runs just begun

    def _hand_back(self, entry_id: str, fields: dict) -> None:
        """Queue again work that arrived while this worker was stopping, for another worker."""
        pipe = self.store.client.pipeline(transaction=True)
        pipe.xadd(self.store.keys.jobs, fields)
        pipe.xack(self.store.keys.jobs, GROUP, entry_id)
        pipe.xdel(self.store.keys.jobs, entry_id)
        pipe.execute()

    def _begin(self, entry_id: str, fields: dict) -> None:
        with self._lock:
            self._busy += 1
        try:
            if "run" in fields:
                self._begin_run(entry_id, fields["run"], json.loads(fields["job"])["limits"])
            elif "call" in fields:
                self._trials[entry_id] = fields["call"]
                self._threads.submit(partial(self._answer_call, entry_id, json.loads(fields["call"])))
            else:
                self._trials[entry_id] = fields["trial"]
                self._threads.submit(partial(self._train_trial, entry_id, json.loads(fields["trial"])))
        except Exception as error:  # one bad entry must not stop the worker, nor leave its run hanging
            logger.exception("could not start jobs entry %s", entry_id)
            self._trials.pop(entry_id, None)
            self._refuse(entry_id, fields, error)
            self._release_slot()

    def _refuse(self, entry_id: str, fields: dict, error: Exception) -> None:
        """End work this worker could not start: a run fails with an ``error`` event."""
        try:
            if "run" in fields:
                limits = json.loads(fields["job"])["limits"]
                self.store.fail_run(fields["run"], f"the run failed: the worker could not start it: {error}",
                                    limits["finished_retention_seconds"], limits["max_retained_runs"])
                self.store.done_with(entry_id)
        except Exception:  # then the janitor fails it once this worker is gone
            logger.exception("could not fail jobs entry %s", entry_id)

    def _begin_run(self, entry_id: str, run_id: str, limits: dict) -> None:
        keys = self.store.keys
        control_key = keys.control(run_id)
        pipe = self.store.client.pipeline(transaction=False)
        pipe.hmget(keys.run(run_id), ["config", "client", "status", "started_at"])
        pipe.xrange(control_key)  # controls sent while the run was queued
        (config, client, status, started_at), queued_controls = pipe.execute()
        if status not in ACTIVE_STATUSES:  # expired, or failed while queued
            self.store.done_with(entry_id)
            self._release_slot()
            return
        if time.time() - float(started_at) > limits["max_run_seconds"]:
            self.store.fail_run(run_id, "the run waited longer than its time limit for a training worker",
                                limits["finished_retention_seconds"], limits["max_retained_runs"])
            self.store.done_with(entry_id)
            self._release_slot()
            return
        log = RedisEventLog(self.store, run_id, LogLimits(
            limits["max_events_per_run"], limits["max_log_bytes"], limits["finished_retention_seconds"],
            limits["max_retained_runs"]), self._writer)
        log.stage(worker=self.id)  # with the first event
        run = WorkerRun(run_id, RunConfig.model_validate_json(config), client, self._trainer_factory, log,
                        on_done=partial(self._keep_model, limits, run_id))
        with self._lock:
            self._runs[control_key] = (run, entry_id, limits)
        # Controls sent while the run was queued apply before its first event; later ones as they come
        # (the follower reads from here on once woken: ``_take_forever`` wakes it once for all it took).
        run.apply_controls([entry_event(*entry) for entry in queued_controls])
        self._controls.watch(control_key, run.applied_control, wake=False)
        # Its end is recorded once its last event is stored: after every command it queued.
        self._scheduler.start(run, partial(self._writer.call, partial(self._run_ended, control_key)))

    def _keep_model(self, limits: dict, run_id: str, trainer, done: dict) -> None:
        """Keep the trained network in Redis for export (before ``done`` is published), as long as the run."""
        state = final_state(run_id, trainer, done)
        if state is None:
            return
        blob = state_to_bytes(state)
        if len(blob) > DEFAULT_MAX_MODEL_BYTES:  # the embedded backend keeps none this large either
            return
        retention_ms = max(int(limits["finished_retention_seconds"] * 1000), 1)
        try:
            self._bytes.set(self.store.keys.model(run_id), blob, px=retention_ms)
        except UNAVAILABLE:
            logger.warning("run %s: its trained network could not be kept for export", run_id)

    def _run_of(self, control_key: str) -> WorkerRun | None:
        with self._lock:
            held = self._runs.get(control_key)
        return held[0] if held else None

    def _run_ended(self, control_key: str) -> None:
        with self._lock:
            run, entry_id, limits = self._runs.pop(control_key)
        self._controls.unwatch(control_key)
        try:
            self._record_end(run.id, entry_id, limits, run.log.finished)
        except UNAVAILABLE:
            with self._lock:
                self._unfinished.append((run.id, entry_id, limits))
        self._release_slot()

    def _record_end(self, run_id: str, entry_id: str, limits: dict, logged: bool) -> None:
        if not logged:  # the run could not publish its own end (e.g. Redis went away meanwhile)
            self.store.fail_run(run_id, "the run failed: its events could not be stored",
                                limits["finished_retention_seconds"], limits["max_retained_runs"])
        self.store.done_with(entry_id)

    def _release_slot(self) -> None:
        with self._lock:
            self._busy -= 1
            self._lock.notify_all()

    # --- one-off calls and trials ------------------------------------------------

    def _answer_call(self, entry_id: str, call: dict) -> None:
        """Run an engine function a web instance asked for (``WORKER_CALLS``) and push its answer."""
        try:
            try:
                answer = {"result": WORKER_CALLS[call["name"]](*call["args"], **call["kwargs"])}
            except Exception as error:  # the caller reports it
                answer = {"error": str(error) or type(error).__name__}
            pipe = self.store.client.pipeline(transaction=True)
            pipe.lpush(call["reply"], to_json(answer))
            pipe.expire(call["reply"], 300)  # read at once, or never (the caller gave up)
            pipe.execute()
            self.store.done_with(entry_id)
        except UNAVAILABLE:
            logger.warning("a %s call: Redis went away; its caller times out", call["name"])
        finally:
            self._trials.pop(entry_id, None)
            self._release_slot()


    def _train_trial(self, entry_id: str, trial: dict) -> None:
        from server.search import worker as trials

        client = self.store.client
        results = self.store.keys.trial_results(trial["executor"])
        try:
            if client.exists(trial["stop"]):
                outcome = {"status": "stopped", "message": "cancelled before it started"}
            else:
                client.xadd(results, {"n": trial["n"], "kind": "started"})
                outcome = trials.execute(self._trial_function or trials.train_trial, trial["task"],
                                         self._trial_should_stop(trial["stop"]))
            pipe = client.pipeline(transaction=True)
            pipe.xadd(results, {"n": trial["n"], "kind": "outcome", "outcome": json.dumps(outcome)})
            pipe.expire(results, 3600)
            pipe.execute()
            self.store.done_with(entry_id)
        except UNAVAILABLE:
            logger.warning("trial %s: Redis went away; its search will count it as failed", trial["n"])
        finally:
            self._trials.pop(entry_id, None)
            self._release_slot()

    def _trial_should_stop(self, stop_key: str) -> Callable[[], bool]:
        """``should_stop`` for a trial: this worker stopping, or its search's stop flag (read sparingly)."""
        seen = {"at": 0.0, "stop": False}

        def should_stop() -> bool:
            now = time.monotonic()
            if not seen["stop"] and now - seen["at"] >= TRIAL_STOP_POLL_SECONDS:
                seen["at"] = now
                try:
                    seen["stop"] = bool(self.store.client.exists(stop_key))
                except UNAVAILABLE:
                    pass
            return seen["stop"] or self._stopping.is_set()

        return should_stop

    # --- heartbeat and upkeep ----------------------------------------------------

    def _beat_forever(self) -> None:
        while not self._closed.wait(self.settings.heartbeat_seconds):
            try:
                self._heartbeat()
                self._reap()
                self._retry_unfinished()
                interval = self.settings.lost_after_seconds / 2
                if self.store.take_turn("upkeep", interval):  # one process in all does it, each interval
                    fail_lost_work(self.store, self.id, self.settings.lost_after_seconds)
            except UNAVAILABLE:
                logger.warning("Redis is unreachable; the heartbeat waits for it")
            except Exception:  # the heartbeat must outlive one bad pass
                logger.exception("worker upkeep failed")

    def _heartbeat(self) -> None:
        """Show this worker alive, and keep its pending entries from looking abandoned."""
        now = time.time()
        lost_after = self.settings.lost_after_seconds
        keys = self.store.keys
        with self._lock:
            entries = [entry for _, entry, _ in self._runs.values()] + list(self._trials)
            info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "busy": self._busy,
                               "concurrency": self.settings.concurrency})
        pipe = self.store.client.pipeline(transaction=False)
        pipe.set(keys.worker(self.id), info, px=max(int(lost_after * 1000), 1))
        pipe.zadd(keys.workers, {self.id: now + lost_after})
        pipe.zremrangebyscore(keys.workers, "-inf", now)
        if entries:
            pipe.xclaim(keys.jobs, GROUP, self.id, 0, entries, justid=True)
        pipe.execute()

    def _reap(self) -> None:
        """Stop this worker's runs that reached their time limit or that nobody watched for too long."""
        with self._lock:
            held = list(self._runs.values())
        if not held:
            return
        pipe = self.store.client.pipeline(transaction=False)
        for run, _, _ in held:
            pipe.hmget(self.store.keys.run(run.id), ["started_at", "last_activity"])
        now = time.time()
        for (run, _, limits), (started_at, last_activity) in zip(held, pipe.execute(), strict=True):
            if started_at is None:
                continue
            bounds = RuntimeLimits(max_run_seconds=limits["max_run_seconds"],
                                   idle_timeout_seconds=limits["idle_timeout_seconds"])
            if now - float(started_at) > bounds.max_run_seconds:
                self._stop(run, "time_limit", time_limit_stop_message(bounds))
            elif now - float(last_activity) > bounds.idle_timeout_seconds:
                self._stop(run, "idle", idle_stop_message(bounds))

    def _stop(self, run: Run, cause: str, message: str) -> None:
        run.stop(cause, message)
        self.store.client.hset(self.store.keys.run(run.id), "stop_requested", "1")

    def _retry_unfinished(self) -> None:
        with self._lock:
            pending, self._unfinished = self._unfinished, []
        for index, (run_id, entry_id, limits) in enumerate(pending):
            try:
                self._record_end(run_id, entry_id, limits, logged=False)
            except UNAVAILABLE:
                with self._lock:
                    self._unfinished.extend(pending[index:])
                raise

    def _sign_off(self) -> None:
        keys = self.store.keys
        pipe = self.store.client.pipeline(transaction=False)
        pipe.delete(keys.worker(self.id))
        pipe.zrem(keys.workers, self.id)
        pipe.execute()
        pending = self.store.client.xpending_range(keys.jobs, GROUP, "-", "+", 1, consumername=self.id)
        if not pending:  # a consumer with pending entries stays, so that they can be claimed
            self.store.client.xgroup_delconsumer(keys.jobs, GROUP, self.id)


def _engine_trainer(config: RunConfig):
    from server.engine import Trainer

    return Trainer(config)


def _gradient_check(*args, **kwargs) -> dict:
    from server.engine import gradient_check

    return gradient_check(*args, **kwargs)


#: What a web instance may ask a worker to compute: engine work too long for the web tier.
WORKER_CALLS = {"gradient_check": _gradient_check}
