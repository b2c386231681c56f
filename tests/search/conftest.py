"""Fixtures: the app with trials on threads running stand-in trial functions."""

from functools import partial

import pytest

from server import create_app
from server.search.executor import ThreadTrialExecutor
from tests.search import trials


@pytest.fixture
def make_app():
    """``make_app(trial_function, **config)``: a test app whose searches run ``trial_function`` on threads."""
    apps = []

    def factory(trial_function=trials.peaked, **config):
        app = create_app({"TESTING": True, "SSE_HEARTBEAT_SECONDS": 0.2,
                          "SEARCH_EXECUTOR": partial(ThreadTrialExecutor, trial_function=trial_function),
                          **config})
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["search_manager"].shutdown()
        app.extensions["run_manager"].shutdown(timeout=5.0)
