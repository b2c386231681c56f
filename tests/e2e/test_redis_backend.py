"""The playground page on the Redis backend: the run trains in a ``python -m server.worker`` process."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import LiveServer
from tests.redis.processes import redis_environment, started, worker_command
from tests.redis.support import RedisBackend
from tests.waiting import wait_until
from tests.web.serving import get

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.usefixtures("patient_expect")


@pytest.fixture
def redis_server(redis_url):
    """The app on a real Redis under a fresh key prefix, served on a loopback port, with one worker."""
    backend = RedisBackend(redis_url)
    server = LiveServer(backend.app()).start()
    try:
        with started(worker_command(concurrency=2), redis_environment(redis_url, backend.prefix)):
            port = int(server.url.rsplit(":", 1)[1])
            wait_until(lambda: get(port, "/healthz")[0] == 200, "the worker alive")
            yield server
    finally:
        server.stop()
        backend.close()


def test_train_on_the_redis_backend_reaches_done_in_the_page(page, redis_server):
    page.goto(f"{redis_server.url}/#samples=200&epochs=30&speed=1000&boundaryEvery=10")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("status")).to_have_text("done")
    expect(page.get_by_test_id("epoch")).to_have_text("30")
    expect(page.get_by_test_id("loss-chart")).to_have_attribute("data-epochs", "30")
    expect(page.get_by_test_id("message")).to_contain_text("Done: 30 epochs")
    assert page.console_errors == []
