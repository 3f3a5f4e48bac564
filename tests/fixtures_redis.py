"""Pytest plugin: a real redis-server (the embedded one) for the whole session.

`redis_server` yields its URL; `redis_url` is the same URL, emptied before each test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from sharpeye.bus.embedded import EmbeddedRedis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # No URL file: tests must not advertise their Redis to a developer's `sharpeye status`.
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"), write_url_file=False)
    with server:
        yield server.url


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    client = redis.Redis.from_url(redis_server)
    try:
        client.flushall()
    finally:
        client.close()
    yield redis_server
