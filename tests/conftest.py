"""Fixtures shared across test packages: the Redis server (started only for tests that ask for it)."""

from __future__ import annotations

import pytest

from tests.redis_server import redis_server_url


@pytest.fixture(scope="session")
def redis_url():
    try:
        with redis_server_url() as url:
            yield url
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)
