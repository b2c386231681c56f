"""Apps and workers on one real Redis, each test in a key prefix of its own."""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import replace

from server import create_app
from server.runs.redis_store import Keys, Store, WorkerSettings, connect
from server.runs.redis_worker import Worker
from tests.web.fakes import FakeTrainer

#: Quick to notice a dead worker, so the tests of it take a second, not ten.
FAST_WORKERS = WorkerSettings(concurrency=16, heartbeat_seconds=0.1, lost_after_seconds=1.0)
FAST_STREAMS = {"SSE_HEARTBEAT_SECONDS": 0.2, "SSE_RETRY_MS": 500}


class RedisBackend:
    """Makes web apps and in-process workers sharing ``url`` under one fresh prefix; ``close`` cleans up."""

    def __init__(self, url: str, settings: WorkerSettings = FAST_WORKERS):
        self.url = url
        self.prefix = f"test:{secrets.token_hex(6)}:"
        self.settings = settings
        self.store = Store(connect(url), Keys(self.prefix))
        self.apps = []
        self.workers = []

    def app(self, **config):
        """A test app on this Redis; its janitor notices dead workers as quickly as the workers do."""
        settings = {"TESTING": True, **FAST_STREAMS, "REDIS_URL": self.url, "REDIS_PREFIX": self.prefix,
                    **config}
        settings.pop("TRAINER_FACTORY", None)  # training happens in the workers
        app = create_app(settings)
        app.extensions["run_manager"].worker_settings = self.settings
        self.apps.append(app)
        return app

    def worker(self, trainer_factory=FakeTrainer, trial_function=None, **settings) -> Worker:
        """A started worker of this process, training with ``trainer_factory`` (and ``trial_function``)."""
        worker = Worker(Store(connect(self.url), Keys(self.prefix)), replace(self.settings, **settings),
                        trainer_factory=trainer_factory, trial_function=trial_function)
        worker.start()
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        """Stop every worker and app made here (all of them, even if one fails), then drop the keys."""
        with contextlib.ExitStack() as stack:
            stack.callback(self._delete_keys)  # last
            for app in self.apps:
                stack.callback(app.extensions["search_manager"].shutdown, timeout=5.0)
                stack.callback(app.extensions["run_manager"].shutdown, timeout=5.0)
            for worker in self.workers:  # first: no worker takes anything after its test
                stack.callback(worker.shutdown, timeout=5.0)

    def _delete_keys(self) -> None:
        client = self.store.client
        keys = list(client.scan_iter(match=self.prefix + "*", count=1000))
        if keys:
            client.delete(*keys)


def stop_heartbeat(worker: Worker) -> None:
    """Make ``worker`` look dead to Redis, as a killed or frozen one does: its heartbeat stops and is gone.

    Its threads go on (a test ends what they are doing); only its signs of life stop.
    """
    worker._closed.set()  # the heartbeat loop's stop signal
    worker._loops[1].join(5.0)
    keys = worker.store.keys
    pipe = worker.store.client.pipeline(transaction=False)
    pipe.delete(keys.worker(worker.id))
    pipe.zrem(keys.workers, worker.id)
    pipe.execute()
