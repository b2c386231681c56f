"""Fixtures for the Redis-only tests: a backend (apps and workers under a fresh key prefix)."""

from __future__ import annotations

import pytest

from tests.redis.support import RedisBackend


@pytest.fixture
def backend(redis_url):
    redis = RedisBackend(redis_url)
    yield redis
    redis.close()
