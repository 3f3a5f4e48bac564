"""Login throttling: a flood of guesses is refused before argon2, a lockout holds one user at
one address only and lifts after its period, and Redis going away does not open the door."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio
from starlette.requests import Request

from command_api.auth import passwords
from command_api.auth.throttle import (
    Attempt,
    LoginThrottle,
    Refused,
    ThrottleConfig,
    client_address,
    parse_proxies,
)
from sharpeye.bus.embedded import free_port
from tests.command_api.harness import Harness, harness

pytestmark = pytest.mark.integration

ATTACKER = ("203.0.113.9", 40000)
ELSEWHERE = ("198.51.100.7", 40001)


@pytest.fixture
async def api(tmp_path: Path, redis_url: str) -> AsyncIterator[Harness]:
    async with harness(tmp_path, redis_url, start_services=False) as h:
        yield h


def _from(api: Harness, address: tuple[str, int]) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=api.app, client=address)
    return httpx.AsyncClient(transport=transport, base_url="http://api")


async def _login(client: httpx.AsyncClient, user: str, password: str) -> httpx.Response:
    return await client.post("/api/auth/login", json={"username": user, "password": password})


async def test_a_thousand_guesses_from_one_address_are_refused_before_argon2(
    api: Harness,
) -> None:
    statuses: dict[int, int] = {}
    checks_before = passwords.checks_done
    async with _from(api, ATTACKER) as attacker, _from(api, ELSEWHERE) as desk:
        for i in range(1000):
            # Half the guesses aim at the administrator, half at names that do not exist.
            user = "admin" if i % 2 == 0 else f"guess{i}"
            r = await _login(attacker, user, f"wrong-{i}")
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            if r.status_code == 429:
                assert int(r.headers["Retry-After"]) >= 1
            if i == 500:
                # Meanwhile the targeted user and another log in from their own desks.
                for name in ("admin", "police-wall"):
                    ok = await _login(desk, name, api.users[name].password)
                    assert ok.status_code == 200, ok.text
        argon2_runs = passwords.checks_done - checks_before - 2
    assert statuses.keys() <= {401, 429}
    # The address's window (20 a minute) bounds the password checks, not the guesser.
    assert argon2_runs == statuses[401] <= 20
    assert statuses[429] >= 980
    lockouts = await _audit(api, "login.lockout")
    assert [(e["target"], e["detail"]["client"]) for e in lockouts] == [("admin", ATTACKER[0])]


async def test_a_lockout_holds_one_user_at_one_address_and_lifts_after_its_period(
    api: Harness,
) -> None:
    password = api.users["police-duty"].password
    async with _from(api, ATTACKER) as attacker, _from(api, ELSEWHERE) as desk:
        for _ in range(5):
            assert (await _login(attacker, "police-duty", "wrong")).status_code == 401
        locked = await _login(attacker, "police-duty", password)
        assert locked.status_code == 429
        assert 890 <= int(locked.headers["Retry-After"]) <= 900
        assert "police-duty" not in locked.text
        # Only that user at that address: the same address logs others in, the user elsewhere.
        assert (await _login(attacker, "forestry", "forestry-demo-pass")).status_code == 200
        assert (await _login(desk, "police-duty", password)).status_code == 200
        api.clock.advance(899)
        assert (await _login(attacker, "police-duty", password)).status_code == 429
        api.clock.advance(2)
        assert (await _login(attacker, "police-duty", password)).status_code == 200
        # A success ends the streak: four more failures do not lock it again.
        for _ in range(4):
            assert (await _login(attacker, "police-duty", "wrong")).status_code == 401
        assert (await _login(attacker, "police-duty", password)).status_code == 200


async def _audit(api: Harness, action: str) -> list[dict[str, Any]]:
    r = await api.client.get(
        "/api/audit", params={"action": action}, headers=await api.login("admin")
    )
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()
    return rows


async def test_guesses_spread_over_addresses_slow_the_user_down_but_never_refuse(
    redis_url: str,
) -> None:
    throttle = LoginThrottle(ThrottleConfig(user_slow_after=3, user_delay_step_s=0.5))
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        for i in range(5):
            attempt = await throttle.admit(client, "duty", f"10.0.0.{i}", 100.0)
            # Past three failures for the name (from anywhere), each try waits 0.5 s more.
            assert isinstance(attempt, Attempt) and attempt.delay_s == 0.5 * max(0, i - 3)
            await throttle.failed(client, attempt, 100.0)
        attempt = await throttle.admit(client, "duty", "10.9.9.9", 101.0)
        assert isinstance(attempt, Attempt) and attempt.delay_s == 1.0
        # The failures age out with the lockout period.
        attempt = await throttle.admit(client, "duty", "10.9.9.9", 100.0 + 901)
        assert isinstance(attempt, Attempt) and attempt.delay_s == 0
    finally:
        await client.aclose()


async def test_without_redis_the_throttle_counts_in_memory() -> None:
    throttle = LoginThrottle(ThrottleConfig(addr_limit=3))
    # Nothing listens there: every Redis call fails at once.
    client = redis.asyncio.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1)
    try:
        results = [await throttle.admit(client, f"u{i}", "10.1.1.1", 50.0) for i in range(4)]
        assert [type(r) for r in results] == [Attempt, Attempt, Attempt, Refused]
        assert isinstance(results[3], Refused) and results[3].retry_after_s == 60
    finally:
        await client.aclose()


def _request(peer: str, forwarded: str | None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "client": (peer, 1), "headers": headers})


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", "1.2.3.4", "203.0.113.9"),  # not a proxy: the header is ignored
        ("10.0.0.5", "1.2.3.4", "1.2.3.4"),
        ("10.0.0.5", "6.6.6.6, 1.2.3.4, 10.0.0.7", "1.2.3.4"),  # the client's own hop is last
        ("10.0.0.5", None, "10.0.0.5"),
        ("10.0.0.5", "not-an-address", "10.0.0.5"),
    ],
)
def test_client_address_trusts_forwarded_for_only_from_listed_proxies(
    peer: str, forwarded: str | None, expected: str
) -> None:
    proxies = parse_proxies("10.0.0.5, 10.0.0.0/29")
    assert client_address(_request(peer, forwarded), proxies) == expected
