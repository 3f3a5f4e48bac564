"""Finding and connecting to the node's Redis: `REDIS_URL`, else the embedded one's URL file."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

import redis
import redis.asyncio

from sharpeye.bus.embedded import url_file
from sharpeye.registry.urls import redact_url as redact_url  # re-exported for callers
from sharpeye.settings import Settings

# A wall or `status` must fail fast and say so, not hang on a dead address.
_CONNECT_TIMEOUT_S = 2.0
_SOCKET_TIMEOUT_S = 5.0


class RedisUnavailableError(RuntimeError):
    """No Redis configured or none answering; the message says which and what to do."""


def resolve_redis_url(settings: Settings) -> str:
    """`REDIS_URL` (with `REDIS_PASSWORD` when the URL has none) if set, else the URL the
    node's embedded Redis wrote, else a clear error."""
    if settings.redis_url:
        return with_password(settings.redis_url, settings.redis_password)
    path = url_file(settings.data_dir)
    try:
        url = path.read_text().strip()
    except FileNotFoundError:
        url = ""
    if not url:
        raise RedisUnavailableError(
            f"no Redis: set REDIS_URL or run `sharpeye up` (no embedded Redis URL in {path})"
        )
    return url


def with_password(url: str, password: str | None) -> str:
    parts = urlsplit(url)
    if not password or parts.password:
        return url
    user = quote(parts.username or "", safe="")
    netloc = f"{user}:{quote(password, safe='')}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))


def unreachable_message(url: str, error: BaseException) -> str:
    return f"no Redis at {redact_url(url)}: is `make up` running? ({error})"


async def connect(settings: Settings, *, check: bool = True) -> redis.asyncio.Redis:
    """An asyncio client (str responses) to the node's Redis; `check` PINGs it first."""
    url = resolve_redis_url(settings)
    client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=_CONNECT_TIMEOUT_S,
        socket_timeout=_SOCKET_TIMEOUT_S,
    )
    if check:
        try:
            await client.ping()
        except (redis.RedisError, OSError) as e:
            await client.aclose()
            raise RedisUnavailableError(unreachable_message(url, e)) from e
    return client


def connect_sync(settings: Settings, *, check: bool = True) -> redis.Redis:
    """The blocking variant of `connect`, for CLIs and threads."""
    url = resolve_redis_url(settings)
    client: redis.Redis = redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=_CONNECT_TIMEOUT_S,
        socket_timeout=_SOCKET_TIMEOUT_S,
    )
    if check:
        try:
            client.ping()
        except (redis.RedisError, OSError) as e:
            client.close()
            raise RedisUnavailableError(unreachable_message(url, e)) from e
    return client
