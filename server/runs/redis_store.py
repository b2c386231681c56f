"""The Redis side of the run backend: key names, atomic scripts, and failing lost work.

Shared by the web instances (``server.runs.redis_manager``) and the training
workers (``server.worker``).  Every key starts with a prefix (``TUNING_REDIS_PREFIX``,
``tuning:`` by default):

- ``jobs``: a stream of work (a run to train, or a search trial), read by the
  workers through the consumer group ``workers``: each entry reaches exactly
  one worker, stays pending while it works on it, and is acknowledged and
  deleted when done, so the stream holds only queued and running work.
- ``run:<id>``: a hash, the run's state (status, config, client, owner, latest
  events, last event id, paused and stop flags, times).
- ``run:<id>:events``: the event log, a stream whose entry ``N-0`` is SSE id N.
- ``run:<id>:control``: the controls sent to the run, a stream its owner follows.
- ``run:<id>:model``: the finished run's trained network, for export.
- ``upload:<id>`` and ``uploads...``: uploaded data sets (``server.runs.redis_uploads``).
- ``active``: a sorted set of active run ids, scored by when each should end
  (for ``Retry-After``); ``client:<client>``: the active runs of one client;
  ``address:<address>``: those of one network address (all its clients).
  They change only inside the scripts below, so capacity is one count.
- ``streams:...``: the open event streams per run, client and address (``server.runs.redis_slots``).
- ``finished``: finished run ids by end time (the oldest beyond the retained
  maximum are dropped); ``workers`` and ``worker:<id>``: heartbeats.

The scripts touch keys they compute from the prefix (``finish`` drops old
runs), which a standalone Redis allows and Redis Cluster does not.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

import redis

from server.runs.manager import RunsUnavailable
from server.runs.run import STATUS_BY_DONE_REASON
from server.settings import settings_from_env

GROUP = "workers"
#: Why a dead worker's runs are failed rather than resumed: what the run needs
#: to continue (weights, optimizer moments, data order) lived in its memory.
LOST_RUN_MESSAGE = ("the run failed: its training worker stopped responding, and a run's weights and "
                    "optimizer state live only in its worker, so it cannot resume elsewhere")
LOST_TRIAL_MESSAGE = "the trial's worker stopped responding"
LOST_CALL_MESSAGE = "the training worker doing it stopped responding"
#: Redis errors that mean "not available now" rather than a bug: unreachable, still loading,
#: full (``maxmemory`` with ``noeviction``: writes are refused, nothing is evicted), or a read-only replica.
UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError,
               redis.exceptions.OutOfMemoryError, redis.exceptions.ReadOnlyError)


class reachable:
    """Turns "Redis is unavailable" into ``RunsUnavailable`` (HTTP 503) for the block it wraps."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if kind is not None and issubclass(kind, redis.exceptions.OutOfMemoryError):
            raise RunsUnavailable("the run store is full (its maxmemory); try again shortly", 30) from error
        if kind is not None and issubclass(kind, UNAVAILABLE):
            raise RunsUnavailable(f"the run store is unavailable: {error}") from error
        return False


@dataclass(frozen=True)
class WorkerSettings:
    """Training workers' settings (``TUNING_WORKER_<FIELD>``); web instances read the liveness ones too."""

    #: Runs and trials one worker process trains at once (its threads share one core).
    concurrency: int = 24
    #: Seconds between a worker's heartbeats.
    heartbeat_seconds: float = 2.0
    #: A worker silent this long is dead: its runs are failed and its capacity released.
    lost_after_seconds: float = 10.0


def worker_settings(environ: Mapping[str, str] | None = None, **overrides) -> WorkerSettings:
    return settings_from_env(WorkerSettings, "TUNING_WORKER_", environ, **overrides)


def connect(url: str, *, timeout: float | None = 5.0) -> redis.Redis:
    """A thread-safe client (a connection pool) of ``url``, answering ``str``."""
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=timeout,
                                socket_connect_timeout=5.0, health_check_interval=30)


def client_of_its_own(client: redis.Redis, **settings) -> redis.Redis:
    """A client of ``client``'s server with a pool of its own, its connections made with ``settings``
    in place of ``client``'s (e.g. ``client_name``, ``socket_timeout``, ``decode_responses``)."""
    pool = client.connection_pool
    return type(client)(connection_pool=type(pool)(connection_class=pool.connection_class,
                                                   **{**pool.connection_kwargs, **settings}))


@dataclass(frozen=True)
class Keys:
    prefix: str = "tuning:"

    @property
    def jobs(self) -> str:
        return self.prefix + "jobs"

    @property
    def active(self) -> str:
        return self.prefix + "active"

    @property
    def finished(self) -> str:
        return self.prefix + "finished"

    @property
    def started(self) -> str:
        return self.prefix + "started"

    def turn(self, name: str) -> str:
        return f"{self.prefix}turn:{name}"

    @property
    def workers(self) -> str:
        return self.prefix + "workers"

    def run(self, run_id: str) -> str:
        return f"{self.prefix}run:{run_id}"

    def events(self, run_id: str) -> str:
        return f"{self.prefix}run:{run_id}:events"

    def control(self, run_id: str) -> str:
        return f"{self.prefix}run:{run_id}:control"

    def model(self, run_id: str) -> str:
        """The finished run's trained network (``server.runs.models.state_to_bytes``), for export."""
        return f"{self.prefix}run:{run_id}:model"

    def client(self, client: str) -> str:
        return f"{self.prefix}client:{client}"

    def address(self, address: str) -> str:
        return f"{self.prefix}address:{address}"

    def worker(self, worker_id: str) -> str:
        return f"{self.prefix}worker:{worker_id}"

    def wake(self, token: str) -> str:
        return f"{self.prefix}wake:{token}"

    def reply(self, token: str) -> str:
        return f"{self.prefix}reply:{token}"

    def trial_results(self, executor_id: str) -> str:
        return f"{self.prefix}trials:{executor_id}:results"

    def trial_stop(self, executor_id: str, generation: int) -> str:
        return f"{self.prefix}trials:{executor_id}:stop:{generation}"


#: The start script's answer when no worker's heartbeat is current.
NO_LIVE_WORKER = 4

# KEYS: active, client set, run hash, jobs, started, address set, workers.  ARGV: max total, max
# per client, run id, expected end, job JSON, the hash's lifetime bound (s), start time, max per
# address, the time now (for the workers' heartbeats), then the hash's field/value pairs.
# Returns {0} when started, {4} when no worker is alive to train it, {1, soonest end} when the
# service is full, {2, soonest end} when the client is, {3, soonest end} when the client's
# address is.  The worker check is here, not a command of its own, to save a start a round trip.
START_LUA = """
local function soonest_of(ids)
  local soonest = ''
  for _, id in ipairs(ids) do
    local score = redis.call('ZSCORE', KEYS[1], id)
    if score and (soonest == '' or tonumber(score) < tonumber(soonest)) then soonest = score end
  end
  return soonest
end
if redis.call('ZCOUNT', KEYS[7], ARGV[9], '+inf') == 0 then return {4, ''} end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {1, first[2] or ''}
end
local own = redis.call('SMEMBERS', KEYS[2])
if #own >= tonumber(ARGV[2]) then return {2, soonest_of(own)} end
local neighbours = redis.call('SMEMBERS', KEYS[6])
if #neighbours >= tonumber(ARGV[8]) then return {3, soonest_of(neighbours)} end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[6], ARGV[3])
redis.call('ZADD', KEYS[5], ARGV[7], ARGV[3])
redis.call('HSET', KEYS[3], unpack(ARGV, 10))
redis.call('EXPIRE', KEYS[3], ARGV[6])
redis.call('XADD', KEYS[4], '*', 'run', ARGV[3], 'job', ARGV[5])
return {0, ''}
"""

# The end of a run, once: status, capacity released, retention set, old runs dropped.
# KEYS: run hash, events, control, active, finished, started.  ARGV: run id, status, now,
# retention ms, most finished runs kept, key prefix.
_FINISH_FUNCTION = """
local function finish(run_id, status, now, retention_ms, keep, prefix)
  if redis.call('HGET', KEYS[1], 'finished_at') then return 0 end
  local client = redis.call('HGET', KEYS[1], 'client') or ''
  local address = redis.call('HGET', KEYS[1], 'address')
  redis.call('HSET', KEYS[1], 'status', status, 'finished_at', now, 'stop_requested', '0')
  redis.call('ZREM', KEYS[4], run_id)
  redis.call('ZREM', KEYS[6], run_id)
  redis.call('SREM', prefix .. 'client:' .. client, run_id)
  if address then redis.call('SREM', prefix .. 'address:' .. address, run_id) end
  for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], retention_ms) end
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', tonumber(now) - tonumber(retention_ms) / 1000)
  redis.call('ZADD', KEYS[5], now, run_id)
  local excess = redis.call('ZCARD', KEYS[5]) - tonumber(keep)
  if excess > 0 then
    for _, old in ipairs(redis.call('ZRANGE', KEYS[5], 0, excess - 1)) do
      local run = prefix .. 'run:' .. old
      redis.call('DEL', run, run .. ':events', run .. ':control', run .. ':model')
    end
    redis.call('ZREMRANGEBYRANK', KEYS[5], 0, excess - 1)
  end
  return 1
end
"""
FINISH_LUA = _FINISH_FUNCTION + "return finish(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])"

# A run whose worker is gone: append an ``error`` event after its last one, then finish.
# KEYS as FINISH_LUA; ARGV as FINISH_LUA (status 'error') then the error's JSON.
FAIL_LUA = _FINISH_FUNCTION + """
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HGET', KEYS[1], 'finished_at') then return 0 end
local next_id = tonumber(redis.call('HGET', KEYS[1], 'last_id') or '0') + 1
redis.call('XADD', KEYS[2], next_id .. '-0', 'e', 'error', 'd', ARGV[7])
redis.call('HSET', KEYS[1], 'last_id', next_id, 'latest:error', ARGV[7])
if next_id == 1 then redis.call('HSET', KEYS[1], 'first', ARGV[7], 'first_event', 'error') end
return finish(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
"""

# A control for an active run: the next id of its control stream (so that ids are 1, 2, ...), then
# the flags the status shows at once.  KEYS: run hash, control stream.  ARGV: action, changes JSON,
# the stream's lifetime bound (s), then flag field/value pairs.  Returns 0 if the run has ended.
CONTROL_LUA = """
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
local n = redis.call('HINCRBY', KEYS[1], 'controls', 1)
redis.call('XADD', KEYS[2], n .. '-0', 'e', ARGV[1], 'd', ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
if #ARGV > 3 then redis.call('HSET', KEYS[1], unpack(ARGV, 4)) end
return n
"""

# An event of a run (any but its last), in one command: XADD, the run hash's fields, and the
# run's controls after a cursor.  KEYS: event stream, run hash, control stream.  ARGV: event id,
# name, JSON text, the stream's new MINID or '', the controls' first id or '', the hash fields
# that keep the text (this kind's latest, the first event), space-separated, or '', then
# field/value pairs.  Returns the controls' entries (XRANGE's reply), or an empty list.
APPEND_LUA = """
local xadd = {KEYS[1]}
if ARGV[4] ~= '' then xadd[#xadd + 1] = 'MINID'; xadd[#xadd + 1] = ARGV[4] end
xadd[#xadd + 1] = ARGV[1] .. '-0'
xadd[#xadd + 1] = 'e'; xadd[#xadd + 1] = ARGV[2]
xadd[#xadd + 1] = 'd'; xadd[#xadd + 1] = ARGV[3]
redis.call('XADD', unpack(xadd))
for name in string.gmatch(ARGV[6], '%S+') do redis.call('HSET', KEYS[2], name, ARGV[3]) end
if #ARGV > 6 then redis.call('HSET', KEYS[2], unpack(ARGV, 7)) end
if ARGV[5] ~= '' then return redis.call('XRANGE', KEYS[3], ARGV[5], '+') end
return {}
"""

# Touch a run that still exists (a plain HSET would recreate an expired one).
TOUCH_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'last_activity', ARGV[1]) end
"""


class Store:
    """A client, the key names and the registered scripts."""

    def __init__(self, client: redis.Redis, keys: Keys):
        self.client = client
        self.keys = keys
        self.start_script = client.register_script(START_LUA)
        self.finish_script = client.register_script(FINISH_LUA)
        self.fail_script = client.register_script(FAIL_LUA)
        self.touch_script = client.register_script(TOUCH_LUA)
        self.control_script = client.register_script(CONTROL_LUA)
        self.append_script = client.register_script(APPEND_LUA)

    @staticmethod
    def queue_script(pipe: redis.client.Pipeline, script, keys: list[str], args: list) -> None:
        """Queue the registered ``script`` on ``pipe`` as an ``EVAL`` of its text.

        Called with ``client=pipe``, a registered script makes the pipeline
        ask Redis whether it has the script (``SCRIPT EXISTS``) before it
        sends anything: a round trip more, every time.  Its text costs a few
        hundred bytes, and Redis compiles it once.
        """
        pipe.eval(script.script, len(keys), *keys, *args)

    def ensure_group(self) -> None:
        """Create the workers' consumer group (and the jobs stream) unless it exists."""
        try:
            self.client.xgroup_create(self.keys.jobs, GROUP, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def finish_keys(self, run_id: str) -> list[str]:
        keys = self.keys
        return [keys.run(run_id), keys.events(run_id), keys.control(run_id), keys.active, keys.finished,
                keys.started]

    def finish_args(self, run_id: str, status: str, retention_seconds: float, keep: int) -> list:
        return [run_id, status, repr(time.time()), max(int(retention_seconds * 1000), 1), keep,
                self.keys.prefix]

    def fail_run(self, run_id: str, message: str, retention_seconds: float, keep: int) -> bool:
        """End an active run with an ``error`` event; False if it had ended already (or is gone)."""
        args = self.finish_args(run_id, "error", retention_seconds, keep)
        error = json.dumps({"message": message})
        return bool(self.fail_script(keys=self.finish_keys(run_id), args=[*args, error]))

    def take_turn(self, name: str, seconds: float) -> bool:
        """True for one caller per ``seconds`` across every process: upkeep that one of them does for all."""
        return bool(self.client.set(self.keys.turn(name), "1", nx=True, px=max(int(seconds * 1000), 1)))

    def live_workers(self) -> int:
        """Workers whose heartbeat has not expired."""
        return int(self.client.zcount(self.keys.workers, time.time(), "+inf"))

    def worker_alive(self, worker_id: str) -> bool:
        return bool(self.client.exists(self.keys.worker(worker_id)))

    def done_with(self, entry_id: str) -> None:
        """Acknowledge a jobs entry and drop it: the stream keeps only queued and running work."""
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(self.keys.jobs, GROUP, entry_id)
        pipe.xdel(self.keys.jobs, entry_id)
        pipe.execute()


def status_after(event: str, data_json: str) -> str:
    """The status a run ends in after its terminal ``event``."""
    if event != "done":
        return "error"
    return STATUS_BY_DONE_REASON.get(json.loads(data_json).get("reason"), "done")


def fail_lost_work(store: Store, consumer: str, lost_after_seconds: float) -> int:
    """Take over work whose worker stopped heartbeating, and fail it; how many entries were failed.

    A jobs entry stays pending while its worker trains it, and the worker
    resets its idle time on every heartbeat, so an entry idle longer than
    ``lost_after_seconds`` belongs to a worker that is gone.  Its run ends
    with an ``error`` event (capacity released); a trial gets a ``failed``
    outcome.  An entry whose owner still heartbeats is handed back.
    """
    client, keys = store.client, store.keys
    cursor, failed = "0-0", 0
    while True:
        reply = client.xautoclaim(keys.jobs, GROUP, consumer, int(lost_after_seconds * 1000), cursor,
                                  count=100)
        cursor, entries = reply[0], reply[1]
        for entry_id, fields in entries:
            owner = _owner_if_alive(store, fields)
            if owner is not None:
                client.xclaim(keys.jobs, GROUP, owner, 0, [entry_id], justid=True)
                continue
            _fail_entry(store, fields)
            store.done_with(entry_id)
            failed += 1
        if cursor in ("0-0", "0"):
            return failed


def _owner_if_alive(store: Store, fields: dict) -> str | None:
    """The worker training this run, if it still heartbeats (it was only slow to reset the entry)."""
    if "run" not in fields:
        return None
    owner = store.client.hget(store.keys.run(fields["run"]), "worker")
    return owner if owner and store.worker_alive(owner) else None


def _fail_entry(store: Store, fields: dict) -> None:
    if "call" in fields:
        reply = json.loads(fields["call"])["reply"]
        pipe = store.client.pipeline(transaction=True)
        pipe.lpush(reply, json.dumps({"lost": LOST_CALL_MESSAGE}))
        pipe.expire(reply, 300)  # read at once, or never (the caller gave up)
        pipe.execute()
        return
    if "run" in fields:
        limits = json.loads(fields["job"])["limits"]
        store.fail_run(fields["run"], LOST_RUN_MESSAGE, limits["finished_retention_seconds"],
                       limits["max_retained_runs"])
        return
    trial = json.loads(fields["trial"])
    outcome = {"status": "failed", "message": LOST_TRIAL_MESSAGE}
    store.client.xadd(store.keys.trial_results(trial["executor"]),
                      {"n": trial["n"], "kind": "outcome", "outcome": json.dumps(outcome)})
