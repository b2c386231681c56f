"""Runtime settings: one loader for every TUNING_* variable, and the defaults the README promises."""

from __future__ import annotations

import runpy

import pytest

from server import create_app
from server.limits import runtime_limits_from_env
from server.settings import BLAS_THREAD_VARIABLES, ServingSettings, one_blas_thread, serving_settings
from tests.web.serving import GUNICORN_CONF


def test_serving_defaults_to_this_machine_only():
    assert serving_settings({}) == ServingSettings(bind="127.0.0.1:8000", threads=256, run_processes=None,
                                                   control_socket=None)


def test_variables_are_converted_to_each_fields_type():
    settings = serving_settings({"TUNING_BIND": "0.0.0.0:8000", "TUNING_THREADS": "32",
                                 "TUNING_RUN_PROCESSES": "0"})
    assert (settings.bind, settings.threads, settings.run_processes) == ("0.0.0.0:8000", 32, 0)
    assert runtime_limits_from_env({"TUNING_MAX_RUN_SECONDS": "90"}).max_run_seconds == 90.0


def test_a_bad_value_names_its_variable():
    with pytest.raises(ValueError, match="TUNING_THREADS='many' is not a valid int"):
        serving_settings({"TUNING_THREADS": "many"})


def test_gunicorn_conf_binds_loopback_and_has_no_control_socket_by_default(monkeypatch):
    for name in ("TUNING_BIND", "TUNING_THREADS", "TUNING_CONTROL_SOCKET"):
        monkeypatch.delenv(name, raising=False)
    conf = runpy.run_path(str(GUNICORN_CONF))
    assert (conf["bind"], conf["threads"], conf["control_socket_disable"]) == ("127.0.0.1:8000", 256, True)
    assert "control_socket" not in conf


def test_create_app_takes_the_run_processes_from_the_environment(monkeypatch):
    monkeypatch.setenv("TUNING_RUN_PROCESSES", "2")
    app = create_app({"TESTING": True})
    try:
        pool = app.extensions["trainer_pool"]
        assert pool.processes == 2 and pool.host_pids() == []
        assert (pool.heartbeat_interval, pool.heartbeat_timeout) == (1.0, 6.0)
    finally:
        app.extensions["run_manager"].shutdown()
        pool.shutdown()


def test_create_app_takes_the_host_heartbeat_from_the_environment(monkeypatch):
    monkeypatch.setenv("TUNING_RUN_PROCESSES", "1")
    monkeypatch.setenv("TUNING_HOST_HEARTBEAT_SECONDS", "0.5")
    monkeypatch.setenv("TUNING_HOST_HEARTBEAT_TIMEOUT_SECONDS", "3")
    app = create_app({"TESTING": True})
    pool = app.extensions["trainer_pool"]
    try:
        assert (pool.heartbeat_interval, pool.heartbeat_timeout) == (0.5, 3.0)
    finally:
        app.extensions["run_manager"].shutdown()
        pool.shutdown()


def test_stream_caps_come_from_the_environment_unless_the_app_config_sets_them(monkeypatch):
    monkeypatch.setenv("TUNING_SSE_STREAMS_PER_ADDRESS", "1000")
    app = create_app({"TESTING": True, "SSE_STREAMS_TOTAL": 7})
    try:
        assert (app.config["SSE_STREAMS_PER_ADDRESS"], app.config["SSE_STREAMS_TOTAL"]) == (1000, 7)
        assert app.config["SSE_STREAMS_PER_CLIENT"] == 32
    finally:
        app.extensions["run_manager"].shutdown()


def test_one_blas_thread_keeps_the_operators_choice_unless_forced():
    environ = {"OMP_NUM_THREADS": "4"}
    one_blas_thread(environ)
    assert environ == {**dict.fromkeys(BLAS_THREAD_VARIABLES, "1"), "OMP_NUM_THREADS": "4"}
    one_blas_thread(environ, force=True)
    assert environ == dict.fromkeys(BLAS_THREAD_VARIABLES, "1")
