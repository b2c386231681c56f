"""Open event streams counted in Redis, so that a stream cap means the same on every web instance.

``StreamLeases.take`` checks a list of scopes (one run's streams, one
client's, one address's), each a sorted set
``streams:<scope>`` of the slots held in it, in one script: it takes a slot
in every scope, or none, and says which scope was full.  A slot is a lease:
scored by when it expires, renewed every third of ``lease_seconds`` by the
instance that holds it while its stream is open, and given back when the
stream ends.  A web instance that dies leaves its slots to expire: they are
free again within ``lease_seconds``.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable

from server.runs.redis_store import UNAVAILABLE, Store, reachable

logger = logging.getLogger(__name__)

#: Seconds a slot outlives the last renewal by the instance holding it.
STREAM_LEASE_SECONDS = 30.0

# KEYS: one sorted set per scope.  ARGV: now, the lease's expiry, the slot's token, the lease (ms),
# then each scope's limit.  Returns 0 when the slot was taken in every scope, else the (1-based)
# index of the first full one.
TAKE_LUA = """
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
  if redis.call('ZCARD', key) >= tonumber(ARGV[4 + i]) then return i end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[2], ARGV[3])
  redis.call('PEXPIRE', key, ARGV[4])
end
return 0
"""


class ScopeFull(Exception):
    """No slot was taken: ``scopes[index]`` holds its limit already."""

    def __init__(self, index: int):
        super().__init__(f"scope {index} is full")
        self.index = index


class StreamLeases:
    """Slots in named scopes, counted in Redis for every instance; this instance renews its own."""

    def __init__(self, store: Store, lease_seconds: float = STREAM_LEASE_SECONDS,
                 clock: Callable[[], float] = time.time):
        self.store = store
        self.lease_seconds = lease_seconds
        self.clock = clock
        self._take = store.client.register_script(TAKE_LUA)
        self._held: dict[str, list[str]] = {}  # token -> its scopes' keys
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._renewer = threading.Thread(target=self._renew_forever, name="stream-leases", daemon=True)
        self._renewer.start()

    @property
    def held(self) -> int:
        """Slots this instance holds."""
        with self._lock:
            return len(self._held)

    def take(self, scopes: list[tuple[str, int]]) -> Callable[[], None]:
        """A slot in every scope (``(name, limit)`` pairs); the function that gives it back.

        The release works once, however often it is called.  ``ScopeFull`` names the
        first scope at its limit (then no slot was taken).
        """
        keys = [f"{self.store.keys.prefix}streams:{name}" for name, _ in scopes]
        token = secrets.token_hex(8)
        now = self.clock()
        with reachable():
            full = self._take(keys=keys, args=[repr(now), repr(now + self.lease_seconds), token,
                                               self._lease_ms(), *[limit for _, limit in scopes]])
        if full:
            raise ScopeFull(full - 1)
        with self._lock:
            self._held[token] = keys
        return lambda: self._release(token)

    def close(self) -> None:
        """Stop renewing (the slots still held expire by themselves)."""
        self._closed.set()
        self._renewer.join(2.0)

    def renew(self) -> None:
        """Push back the expiry of every slot this instance holds."""
        with self._lock:
            held = list(self._held.items())
        if not held:
            return
        expiry = self.clock() + self.lease_seconds
        pipe = self.store.client.pipeline(transaction=False)
        for token, keys in held:
            for key in keys:
                pipe.zadd(key, {token: expiry}, xx=True)
                pipe.pexpire(key, self._lease_ms())
        pipe.execute()

    def _release(self, token: str) -> None:
        with self._lock:
            keys = self._held.pop(token, None)
        if keys is None:
            return
        try:
            pipe = self.store.client.pipeline(transaction=False)
            for key in keys:
                pipe.zrem(key, token)
            pipe.execute()
        except UNAVAILABLE:
            logger.warning("a stream slot could not be given back; it expires in %g s", self.lease_seconds)

    def _lease_ms(self) -> int:
        return max(int(self.lease_seconds * 1000), 1)

    def _renew_forever(self) -> None:
        while not self._closed.wait(self.lease_seconds / 3):
            try:
                self.renew()
            except UNAVAILABLE:
                pass  # renewed at the next turn, or expired: the streams end without Redis anyway
            except Exception:  # the renewer must outlive one bad pass
                logger.exception("renewing stream slots failed")
