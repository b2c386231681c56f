"""Fixtures: the app with a fake trainer (fast, no NumPy) or the real engine, and SSE reading.

Test modules marked ``both_backends`` run every test against the embedded run
manager and against the Redis backend (a real redis-server, a worker in this
process training with the same fake).
"""

from __future__ import annotations

import pytest

from server import create_app
from tests.web.fakes import FakeTrainer

FAST_STREAMS = {"SSE_HEARTBEAT_SECONDS": 0.2, "SSE_RETRY_MS": 500}
BACKENDS = ("embedded", "redis")


def pytest_configure(config):
    config.addinivalue_line("markers", "both_backends: run against the embedded and the Redis run backends")


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_backends"):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request):
    return getattr(request, "param", "embedded")


@pytest.fixture
def health_parts(backend):
    """What ``/healthz`` adds to the load on this backend (the Redis one counts its live workers)."""
    return {"workers": 1} if backend == "redis" else {}


@pytest.fixture
def make_app(request, backend):
    """``make_app(**config)``: a test app (fake trainer unless ``TRAINER_FACTORY`` is given)."""
    if backend == "redis":
        from tests.redis.support import RedisBackend

        redis = RedisBackend(request.getfixturevalue("redis_url"))

        def on_redis(**config):
            redis.worker(config.get("TRAINER_FACTORY", FakeTrainer))
            return redis.app(**config)

        yield on_redis
        redis.close()
        return
    apps = []

    def factory(**config):
        settings = {"TESTING": True, "TRAINER_FACTORY": FakeTrainer, **FAST_STREAMS, **config}
        app = create_app(settings)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["run_manager"].shutdown(timeout=5.0)


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()
