"""Fixtures: the app with a fake trainer (fast, no NumPy) or the real engine, and SSE reading."""

from __future__ import annotations

import pytest

from server import create_app
from tests.web.fakes import FakeTrainer

FAST_STREAMS = {"SSE_HEARTBEAT_SECONDS": 0.2, "SSE_RETRY_MS": 500}


@pytest.fixture
def make_app():
    """``make_app(**config)``: a test app (fake trainer unless ``TRAINER_FACTORY`` is given)."""
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
