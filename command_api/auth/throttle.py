"""Login throttling: a password guess is refused (429, Retry-After) before argon2 runs.

Each login try costs 64 MiB and tens of milliseconds of argon2, so the checks below run
first, on counters kept in Redis (every API replica shares them; times come from the API's
clock). Three counters, chosen so that no one can lock a user out from elsewhere:

- per client address, a sliding window of tries (SHARPEYE_LOGIN_ADDR_LIMIT per
  SHARPEYE_LOGIN_ADDR_WINDOW_S, 20 a minute): a try is counted before argon2 runs (so a
  burst of parallel guesses is bounded too) and given back when it succeeds, so a command
  centre behind one NAT address can log its walls in at shift change;
- per (user name, address), consecutive failures: after SHARPEYE_LOGIN_MAX_FAILURES (5) that
  user is locked out *from that address* for SHARPEYE_LOGIN_LOCKOUT_S (15 min), audited with
  the address. A per-user lockout would let anyone lock a duty officer out of the wall by
  guessing from their own machine, so the user keeps logging in from elsewhere;
- per user name, failures from any address in the lockout period: past
  SHARPEYE_LOGIN_USER_SLOW_AFTER (10) each further try for that name waits a little (1 s per
  failure over, at most 5 s) before argon2: a guesser spread over many addresses is slowed,
  the real user is delayed a few seconds, never refused.

At most SHARPEYE_LOGIN_CONCURRENCY (4) password checks run at once per process (memory).
The client address is the socket's, or X-Forwarded-For's when the socket's peer is one of
SHARPEYE_TRUSTED_PROXIES (addresses or CIDRs, comma-separated).

If Redis is down the counters live in this process's memory until it answers again: each
replica then throttles on its own, which is weaker but never unthrottled, and logins go on.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ipaddress
import logging
import math
import os
import secrets
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import redis
import redis.asyncio
from starlette.requests import HTTPConnection

log = logging.getLogger(__name__)

_PREFIX = "sharpeye:login:"
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
T = TypeVar("T")


def _env_int(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name)
    try:
        value = int(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    return min(max(value, low), high)


def parse_proxies(raw: str) -> tuple[IpNetwork, ...]:
    """SHARPEYE_TRUSTED_PROXIES: '10.0.0.5, 10.1.0.0/16'; a bad entry stops startup."""
    nets = []
    for part in raw.split(","):
        if part.strip():
            try:
                nets.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                raise ValueError(
                    f"SHARPEYE_TRUSTED_PROXIES: {part.strip()!r} is no address"
                ) from None
    return tuple(nets)


@dataclass(frozen=True)
class ThrottleConfig:
    addr_limit: int = 20
    addr_window_s: int = 60
    max_failures: int = 5
    lockout_s: int = 900
    user_slow_after: int = 10
    user_delay_step_s: float = 1.0
    user_delay_max_s: float = 5.0
    concurrency: int = 4
    trusted_proxies: tuple[IpNetwork, ...] = ()

    @classmethod
    def from_env(cls) -> ThrottleConfig:
        return cls(
            addr_limit=_env_int("SHARPEYE_LOGIN_ADDR_LIMIT", 20, 1, 100_000),
            addr_window_s=_env_int("SHARPEYE_LOGIN_ADDR_WINDOW_S", 60, 1, 86400),
            max_failures=_env_int("SHARPEYE_LOGIN_MAX_FAILURES", 5, 1, 1000),
            lockout_s=_env_int("SHARPEYE_LOGIN_LOCKOUT_S", 900, 1, 7 * 86400),
            user_slow_after=_env_int("SHARPEYE_LOGIN_USER_SLOW_AFTER", 10, 1, 100_000),
            concurrency=_env_int("SHARPEYE_LOGIN_CONCURRENCY", 4, 1, 64),
            trusted_proxies=parse_proxies(os.environ.get("SHARPEYE_TRUSTED_PROXIES", "")),
        )


def client_address(conn: HTTPConnection, trusted: tuple[IpNetwork, ...]) -> str:
    """The caller's address: the socket's peer, unless that peer is a trusted proxy, then the
    nearest X-Forwarded-For hop that is not one (a client can prepend anything it likes)."""
    peer = conn.client.host if conn.client else ""
    if not trusted or not _in(peer, trusted):
        return peer
    hops = [h.strip() for h in conn.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop if _is_ip(hop) else peer
    return peer


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _in(text: str, nets: tuple[IpNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    return any(ip in net for net in nets)


class Backend(Protocol):
    """Sliding windows (sorted sets of tries scored by time) and lockout deadlines."""

    async def take(
        self, key: str, now: float, window: float, limit: int, member: str
    ) -> float | None:
        """Record a try unless `limit` are in the window; else the oldest try's time."""
        ...

    async def drop(self, key: str, member: str) -> None: ...
    async def record(self, key: str, now: float, window: float, member: str) -> int: ...
    async def count(self, key: str, now: float, window: float) -> int: ...
    async def clear(self, key: str) -> None: ...
    async def lock(self, key: str, until: float, ttl_s: int) -> None: ...
    async def locked_until(self, key: str) -> float: ...


# Atomic, so replicas racing on one address cannot both take the last slot.
_TAKE = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  return redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return false
"""


def _ttl(window: float) -> int:
    # Windows are pruned by score (the API's clock); the key's real-time expiry only keeps
    # Redis from collecting the names of every address that ever tried.
    return int(window) * 2 + 60


class RedisBackend:
    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client

    async def take(
        self, key: str, now: float, window: float, limit: int, member: str
    ) -> float | None:
        args = (now, window, limit, member, _ttl(window))
        oldest = await self.client.eval(_TAKE, 1, key, *args)
        return None if oldest is None else float(oldest)

    async def drop(self, key: str, member: str) -> None:
        await self.client.zrem(key, member)

    async def record(self, key: str, now: float, window: float, member: str) -> int:
        async with self.client.pipeline(transaction=True) as p:
            p.zremrangebyscore(key, "-inf", now - window)
            p.zadd(key, {member: now})
            p.expire(key, _ttl(window))
            p.zcard(key)
            result = await p.execute()
        return int(result[-1])

    async def count(self, key: str, now: float, window: float) -> int:
        return int(await self.client.zcount(key, now - window, "+inf"))

    async def clear(self, key: str) -> None:
        await self.client.delete(key)

    async def lock(self, key: str, until: float, ttl_s: int) -> None:
        await self.client.set(key, repr(until), ex=_ttl(ttl_s))

    async def locked_until(self, key: str) -> float:
        value = await self.client.get(key)
        return float(value) if value else 0.0


@dataclass
class MemoryBackend:
    """This process's counters while Redis is away (bounded: oldest keys dropped first)."""

    max_keys: int = 100_000
    windows: dict[str, dict[str, float]] = field(default_factory=dict)
    locks: dict[str, float] = field(default_factory=dict)

    def _window(self, key: str, now: float, window: float) -> dict[str, float]:
        tries = self.windows.setdefault(key, {})
        for member in [m for m, t in tries.items() if t <= now - window]:
            del tries[member]
        while len(self.windows) > self.max_keys:
            del self.windows[next(iter(self.windows))]
        return tries

    async def take(
        self, key: str, now: float, window: float, limit: int, member: str
    ) -> float | None:
        tries = self._window(key, now, window)
        if len(tries) >= limit:
            return min(tries.values())
        tries[member] = now
        return None

    async def drop(self, key: str, member: str) -> None:
        self.windows.get(key, {}).pop(member, None)

    async def record(self, key: str, now: float, window: float, member: str) -> int:
        tries = self._window(key, now, window)
        tries[member] = now
        return len(tries)

    async def count(self, key: str, now: float, window: float) -> int:
        return len(self._window(key, now, window))

    async def clear(self, key: str) -> None:
        self.windows.pop(key, None)

    async def lock(self, key: str, until: float, ttl_s: int) -> None:
        if len(self.locks) > self.max_keys:
            self.locks.clear()
        self.locks[key] = until

    async def locked_until(self, key: str) -> float:
        return self.locks.get(key, 0.0)


@dataclass(frozen=True)
class Attempt:
    """An admitted try: what to give back or count once its password check is done."""

    user_key: str
    pair_key: str
    addr_key: str
    lock_key: str
    member: str
    delay_s: float


@dataclass(frozen=True)
class Refused:
    retry_after_s: int
    reason: str


def _key(kind: str, *parts: str) -> str:
    # Hashed: user names and addresses stay out of Redis key listings.
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]
    return f"{_PREFIX}{kind}:{digest}"


class LoginThrottle:
    def __init__(self, config: ThrottleConfig) -> None:
        self.config = config
        self.memory = MemoryBackend()
        self._redis_down = False
        self._hashing: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._hashing = weakref.WeakKeyDictionary()

    def hashing(self) -> asyncio.Semaphore:
        """Bounds the password checks running at once (argon2's memory), per event loop."""
        loop = asyncio.get_running_loop()
        sem = self._hashing.get(loop)
        if sem is None:
            sem = self._hashing[loop] = asyncio.Semaphore(self.config.concurrency)
        return sem

    def address(self, conn: HTTPConnection) -> str:
        return client_address(conn, self.config.trusted_proxies)

    async def _run(self, client: redis.asyncio.Redis, op: Callable[[Backend], Awaitable[T]]) -> T:
        """`op` on Redis; on this process's memory while Redis does not answer."""
        if self._redis_down:
            try:
                await client.ping()
            except (redis.RedisError, OSError):
                return await op(self.memory)
            self._redis_down = False
            log.info("login throttle: Redis is back; counting there again")
        try:
            return await op(RedisBackend(client))
        except (redis.RedisError, OSError) as e:
            self._redis_down = True
            log.warning("login throttle: Redis unavailable (%s); counting in memory", e)
            return await op(self.memory)

    async def admit(
        self, client: redis.asyncio.Redis, username: str, address: str, now: float
    ) -> Attempt | Refused:
        """Checks run cheapest and most specific first; nothing is counted for a refusal."""
        c = self.config
        pair_key = _key("fail", username, address)
        lock_key = _key("lock", username, address)
        until = await self._run(client, lambda b: b.locked_until(lock_key))
        if until > now:
            return Refused(math.ceil(until - now), "too many failed logins from this address")
        addr_key = _key("addr", address)
        member = secrets.token_hex(8)
        oldest = await self._run(
            client, lambda b: b.take(addr_key, now, c.addr_window_s, c.addr_limit, member)
        )
        if oldest is not None:
            wait = max(1, math.ceil(oldest + c.addr_window_s - now))
            return Refused(wait, "too many login attempts from this address")
        user_key = _key("user", username)
        failures = await self._run(client, lambda b: b.count(user_key, now, c.lockout_s))
        over = failures - c.user_slow_after
        delay = min(c.user_delay_max_s, c.user_delay_step_s * over) if over > 0 else 0.0
        return Attempt(user_key, pair_key, addr_key, lock_key, member, delay)

    async def succeeded(self, client: redis.asyncio.Redis, attempt: Attempt) -> None:
        await self._run(client, lambda b: b.drop(attempt.addr_key, attempt.member))
        await self._run(client, lambda b: b.clear(attempt.pair_key))

    async def failed(self, client: redis.asyncio.Redis, attempt: Attempt, now: float) -> float:
        """Counts the failure; returns the lockout's end when this one started it (else 0)."""
        c = self.config
        a = attempt
        await self._run(client, lambda b: b.record(a.user_key, now, c.lockout_s, a.member))
        streak = await self._run(client, lambda b: b.record(a.pair_key, now, c.lockout_s, a.member))
        if streak >= c.max_failures:
            until = now + c.lockout_s
            await self._run(client, lambda b: b.clear(a.pair_key))
            await self._run(client, lambda b: b.lock(a.lock_key, until, c.lockout_s))
            return until
        return 0.0


@functools.cache
def login_throttle() -> LoginThrottle:
    """The process's throttle, configured from the environment at its first login."""
    return LoginThrottle(ThrottleConfig.from_env())
