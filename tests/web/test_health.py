"""``/healthz`` says 503, with a reason, while the pages cannot be served or a training host is gone."""

from __future__ import annotations

import os
import shutil
import signal

import pytest

from server import create_app
from tests.waiting import wait_until
from tests.web.serving import ROOT


def health(app):
    response = app.test_client().get("/healthz")
    return response.status_code, response.get_json()


def copy_of(folder: str, tmp_path, without: str):
    copy = tmp_path / folder
    shutil.copytree(ROOT / folder, copy)
    (copy / without).unlink()
    return str(copy)


def test_a_complete_install_is_healthy(app):
    assert health(app) == (200, {"status": "ok", "runs": 0, "capacity": 48})


def test_missing_templates_make_it_unavailable(app, tmp_path):
    app.template_folder = str(tmp_path / "nowhere")
    status, body = health(app)
    assert status == 503
    assert body == {"status": "unavailable", "reason": "the page templates are missing", "runs": 0,
                    "capacity": 48}


def test_a_missing_page_template_is_named(app, tmp_path):
    app.template_folder = copy_of("templates", tmp_path, without="search.html")
    status, body = health(app)
    assert status == 503 and body["reason"] == "page templates are missing: search.html"


def test_missing_static_assets_make_it_unavailable(app, tmp_path):
    app.static_folder = str(tmp_path / "nowhere")
    status, body = health(app)
    assert status == 503 and body["reason"] == "the static assets are missing"


def test_a_missing_asset_that_a_page_loads_is_named(app, tmp_path):
    app.static_folder = copy_of("static", tmp_path, without="js/main.js")
    status, body = health(app)
    assert status == 503 and body["reason"] == "static assets are missing: js/main.js"


@pytest.fixture
def hosted_app():
    app = create_app({"TESTING": True, "RUN_PROCESSES": 1})
    pool = app.extensions["trainer_pool"]
    assert pool.start(timeout=60)
    yield app
    app.extensions["run_manager"].shutdown()
    pool.shutdown()


def test_a_dead_training_host_makes_it_unavailable_until_its_replacement_is_up(hosted_app):
    pool = hosted_app.extensions["trainer_pool"]
    assert health(hosted_app)[0] == 200
    (dead,) = pool.host_pids()
    os.kill(dead, signal.SIGKILL)
    status, body = wait_until(lambda: (reply := health(hosted_app))[0] == 503 and reply,
                              "a 503 after the host was killed")
    assert body["status"] == "unavailable"
    # Its replacement is started as soon as the loss is seen, by the pool or by this probe.
    assert body["reason"] in ("training host process 0 is not running; starting a new one",
                              "training host process 0 is starting")
    wait_until(lambda: health(hosted_app)[0] == 200, "the replacement host")
    (replacement,) = pool.host_pids()
    assert replacement != dead


def test_hosts_not_started_yet_are_no_reason_and_the_probe_does_not_start_them():
    app = create_app({"TESTING": True, "RUN_PROCESSES": 1})
    pool = app.extensions["trainer_pool"]
    try:
        assert health(app)[0] == 200
        assert pool.host_pids() == []  # they start with the first run
    finally:
        app.extensions["run_manager"].shutdown()
        pool.shutdown()
