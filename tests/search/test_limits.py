import pytest

from server import create_app
from server.search.executor import ThreadTrialExecutor, WarmExecutors, available_cores
from server.search.limits import SearchLimits, search_limits_from_env
from tests.search import trials


def test_search_limits_default_to_the_cores_and_read_the_environment():
    assert SearchLimits().max_workers == available_cores()
    limits = search_limits_from_env({"TUNING_SEARCH_MAX_WORKERS": "3",
                                     "TUNING_SEARCH_STOP_GRACE_SECONDS": "0.5"}, max_search_seconds=60)
    assert (limits.max_workers, limits.stop_grace_seconds, limits.max_search_seconds) == (3, 0.5, 60)


def test_unknown_search_limits_are_refused():
    with pytest.raises(ValueError, match="unknown search limits: max_gpus"):
        search_limits_from_env({}, max_gpus=1)


def test_the_app_takes_search_limits_and_refuses_an_unknown_executor(make_app):
    client = make_app(SEARCH_LIMITS={"max_workers": 1}).test_client()
    response = client.post("/api/searches", json={
        "space": {"optimizer.learning_rate": {"distribution": "log_uniform", "low": 0.001, "high": 0.1}},
        "workers": 2})
    assert response.status_code == 400
    assert response.json["details"] == [{"loc": "workers", "msg": "at most 1 workers on this server"}]
    with pytest.raises(ValueError, match="SEARCH_EXECUTOR must be one of process, thread"):
        create_app({"TESTING": True, "SEARCH_EXECUTOR": "ray"})


def test_only_max_idle_executors_stay_warm():
    executors = WarmExecutors(lambda workers: ThreadTrialExecutor(workers, trials.peaked), max_idle=1)
    first, second = executors.acquire(1), executors.acquire(1)
    executors.release(first)
    executors.release(second)
    assert executors.idle() == [1]
    assert executors.acquire(1) is first
    assert not second.reset()  # shut down: it can never run another search
    executors.shutdown()


def test_the_distributions_route_describes_each_distribution(make_app):
    client = make_app().test_client()
    response = client.get("/api/searches/distributions")
    assert response.status_code == 200
    schemas = response.json
    assert set(schemas) == {"uniform", "log_uniform", "one_minus_log_uniform",
                            "int_uniform", "int_log_uniform", "choice"}
    assert schemas["log_uniform"]["properties"]["low"]["exclusiveMinimum"] == 0
    assert schemas["choice"]["required"] == ["distribution", "values"]
