"""Uploaded data sets in Redis, so that every web instance and training worker finds them.

With the Redis backend an upload (``POST /api/datasets``) is trained by a
worker on another machine and may be previewed through another instance, so
``RedisUploads`` keeps it in Redis instead of the web process's memory, under
the same rules as the embedded ``server.web.datasets.DatasetStore``: kept
``ttl_seconds`` after its last use (upload, preview, training), at most
``per_client`` uploads and ``bytes_per_client`` of arrays per client and
``bytes_total`` in all, the least recently used going first; ids as
unguessable as run ids.  It is the engine's ``UploadSource`` on both sides.

Keys (after the prefix):

- ``upload:<id>``: a hash: ``X`` (float64, little-endian, row-major bytes),
  ``y`` (one byte per label: at most 10 classes) and ``meta`` (JSON: shape,
  classes, features, client, retention); it expires ``ttl_seconds`` after its
  last use, which every read renews.
- ``uploads``: every upload id by last use; ``uploads:sizes``: id -> "bytes|client";
  ``uploads:bytes``: their total; ``uploads:client:<client>``: one client's ids
  by last use.  Only the scripts below change them, so the budgets are one
  count on every instance.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import redis

from server.engine.uploads import UploadedData
from server.runs.redis_store import Store, client_of_its_own, reachable

# Drops one upload and its bookkeeping.  ARGV[1] is always the key prefix.
_DROP_FUNCTION = """
local function drop(id)
  local info = redis.call('HGET', ARGV[1] .. 'uploads:sizes', id)
  if info then
    local size, client = string.match(info, '^(%d+)|(.*)$')
    redis.call('DECRBY', ARGV[1] .. 'uploads:bytes', size)
    redis.call('ZREM', ARGV[1] .. 'uploads:client:' .. client, id)
    redis.call('HDEL', ARGV[1] .. 'uploads:sizes', id)
  end
  redis.call('ZREM', ARGV[1] .. 'uploads', id)
  redis.call('DEL', ARGV[1] .. 'upload:' .. id)
end
local function drop_unused(now, ttl_ms)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', ARGV[1] .. 'uploads', '-inf', now - ttl_ms / 1000)) do
    drop(id)
  end
end
local function least_recent(set, keep)
  for _, id in ipairs(redis.call('ZRANGE', set, 0, 1)) do
    if id ~= keep then return id end
  end
end
"""

# ARGV: prefix, id, now, ttl ms, client, bytes, most uploads per client, bytes per client, bytes in all,
# then X, y, meta.
PUT_LUA = _DROP_FUNCTION + """
local prefix, id, now, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local own = prefix .. 'uploads:client:' .. ARGV[5]
drop_unused(now, ttl)
redis.call('HSET', prefix .. 'upload:' .. id, 'X', ARGV[10], 'y', ARGV[11], 'meta', ARGV[12])
redis.call('PEXPIRE', prefix .. 'upload:' .. id, ttl)
redis.call('ZADD', prefix .. 'uploads', now, id)
redis.call('ZADD', own, now, id)
redis.call('PEXPIRE', own, ttl)
redis.call('HSET', prefix .. 'uploads:sizes', id, ARGV[6] .. '|' .. ARGV[5])
redis.call('INCRBY', prefix .. 'uploads:bytes', ARGV[6])
local function own_bytes()
  local total = 0
  for _, other in ipairs(redis.call('ZRANGE', own, 0, -1)) do
    local info = redis.call('HGET', prefix .. 'uploads:sizes', other)
    if info then total = total + tonumber(string.match(info, '^(%d+)|')) end
  end
  return total
end
while redis.call('ZCARD', own) > 1 and (redis.call('ZCARD', own) > tonumber(ARGV[7])
      or own_bytes() > tonumber(ARGV[8])) do
  drop(least_recent(own, id))
end
while redis.call('ZCARD', prefix .. 'uploads') > 1
      and tonumber(redis.call('GET', prefix .. 'uploads:bytes')) > tonumber(ARGV[9]) do
  drop(least_recent(prefix .. 'uploads', id))
end
return 1
"""

# A use: the upload's fields, its retention renewed; nil when unknown or unused too long.
# ARGV: prefix, id, now.
GET_LUA = _DROP_FUNCTION + """
local prefix, id, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local key = prefix .. 'upload:' .. id
local fields = redis.call('HMGET', key, 'X', 'y', 'meta')
if not fields[3] then return nil end
local meta = cjson.decode(fields[3])
local used = redis.call('ZSCORE', prefix .. 'uploads', id)
if not used or tonumber(used) < now - meta.ttl_ms / 1000 then
  drop(id)
  return nil
end
redis.call('ZADD', prefix .. 'uploads', 'XX', now, id)
redis.call('ZADD', prefix .. 'uploads:client:' .. meta.client, 'XX', now, id)
redis.call('PEXPIRE', prefix .. 'uploads:client:' .. meta.client, meta.ttl_ms)
redis.call('PEXPIRE', key, meta.ttl_ms)
return fields
"""


@dataclass(frozen=True)
class UploadBudget:
    """How long uploads are kept, and how many and how large (``server.web.datasets.DEFAULTS``)."""

    ttl_seconds: float
    per_client: int
    bytes_per_client: int
    bytes_total: int


class RedisUploads:
    """Uploads in Redis: ``put`` (web instances, with a budget), ``get`` (any: the ``UploadSource``)."""

    def __init__(self, store: Store, budget: UploadBudget | None = None,
                 clock: Callable[[], float] = time.time):
        self.budget = budget
        self._prefix = store.keys.prefix
        self._clock = clock
        self._client = bytes_client(store.client)
        self._put = self._client.register_script(PUT_LUA)
        self._get = self._client.register_script(GET_LUA)

    def put(self, data: UploadedData, client: str) -> str:
        """Keep ``data`` for ``client`` within the budget; its new id (without the ``upload:`` prefix)."""
        if self.budget is None:
            raise RuntimeError("this store only reads uploads (it was given no budget)")
        budget = self.budget
        key = secrets.token_urlsafe(16)
        ttl_ms = max(int(budget.ttl_seconds * 1000), 1)
        meta = {"shape": list(data.X.shape), "classes": list(data.classes), "features": list(data.features),
                "client": client, "ttl_ms": ttl_ms}
        arrays = [np.ascontiguousarray(data.X, dtype="<f8").tobytes(), data.y.astype(np.uint8).tobytes()]
        with reachable():
            self._put(args=[self._prefix, key, repr(self._clock()), ttl_ms, client, data.nbytes,
                            budget.per_client, budget.bytes_per_client, budget.bytes_total,
                            *arrays, json.dumps(meta)])
        return key

    def get(self, upload_id: str) -> UploadedData | None:
        """The upload, its last use now; None when unknown or expired."""
        with reachable():
            found = self._get(args=[self._prefix, upload_id, repr(self._clock())])
        if not found:
            return None
        x_bytes, y_bytes, meta_json = found
        meta = json.loads(meta_json)
        X = np.frombuffer(x_bytes, dtype="<f8").reshape(meta["shape"]).astype(np.float64)
        y = np.frombuffer(y_bytes, dtype=np.uint8).astype(np.int64)
        return UploadedData(X=X, y=y, classes=tuple(meta["classes"]), features=tuple(meta["features"]))


def bytes_client(client: redis.Redis) -> redis.Redis:
    """A client of the same server that answers ``bytes`` (the store's decodes every reply as text)."""
    return client_of_its_own(client, decode_responses=False)
