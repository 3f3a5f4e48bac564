"""The health contract through a real Redis: round trip, changes channel, staleness."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio

from sharpeye.bus.health import (
    HEALTH_CHANNEL,
    HEALTH_KEY,
    current_frame_age,
    effective_state,
    publish_health,
    read_health,
    read_health_sync,
    remove_health,
    stale_reason,
    state_reason,
)
from sharpeye.contracts.health import CameraHealth, CameraState

pytestmark = pytest.mark.integration


def _health(camera_id: str, state: CameraState = CameraState.ONLINE, **kw: object) -> CameraHealth:
    fields: dict[str, object] = {
        "camera_id": camera_id,
        "node_id": "node-1",
        "state": state,
        "fps": 15.0,
        "bitrate_kbps": 900.0,
        "keyframe_interval_s": 2.0,
        "last_frame_age_s": 0.1,
        "updated_at": time.time(),
    }
    fields.update(kw)
    return CameraHealth.model_validate(fields)


@pytest.fixture
async def r(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def test_publish_read_round_trip(r: redis.asyncio.Redis, redis_url: str) -> None:
    items = [_health("cam-1"), _health("cam-2", CameraState.DEGRADED, decode_errors=3)]
    await publish_health(r, items)
    got = await read_health(r)
    assert got == {h.camera_id: h for h in items}
    assert await read_health(r, ["cam-2", "missing"]) == {"cam-2": items[1]}
    assert await read_health(r, []) == {}
    # The blocking reader sees the same, with or without decoded responses.
    sync = redis.Redis.from_url(redis_url)
    try:
        assert read_health_sync(sync) == got
        assert read_health_sync(sync, ["cam-1"]) == {"cam-1": items[0]}
    finally:
        sync.close()


async def test_newer_report_replaces_older(r: redis.asyncio.Redis) -> None:
    await publish_health(r, [_health("cam-1", fps=10.0)])
    await publish_health(r, [_health("cam-1", fps=12.5)])
    assert (await read_health(r))["cam-1"].fps == 12.5


async def test_changes_are_published(r: redis.asyncio.Redis) -> None:
    pubsub = r.pubsub()
    await pubsub.subscribe(HEALTH_CHANNEL)
    try:
        # The subscribe confirmation comes first.
        await pubsub.get_message(timeout=1.0)
        down = _health("cam-1", CameraState.OFFLINE, last_error="connection refused")
        await publish_health(r, [down, _health("cam-2")], changed=[down])
        message = None
        async with asyncio.timeout(5):
            while message is None:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        assert CameraHealth.model_validate_json(message["data"]) == down
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]


async def test_remove_health(r: redis.asyncio.Redis) -> None:
    await publish_health(r, [_health("cam-1"), _health("cam-2")])
    await remove_health(r, ["cam-1"])
    await remove_health(r, [])
    assert set(await read_health(r)) == {"cam-2"}


async def test_malformed_entry_is_skipped_not_fatal(
    r: redis.asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    await publish_health(r, [_health("cam-1")])
    await r.hset(HEALTH_KEY, "cam-bad", '{"camera_id": "cam-bad"}')
    assert set(await read_health(r)) == {"cam-1"}
    assert "cam-bad" in caplog.text


@pytest.mark.parametrize(
    ("state", "age_s", "expected", "stale"),
    [
        (CameraState.ONLINE, 1.0, CameraState.ONLINE, False),
        (CameraState.DEGRADED, 9.0, CameraState.DEGRADED, False),
        (CameraState.ONLINE, 11.0, CameraState.OFFLINE, True),
        (CameraState.CONNECTING, 60.0, CameraState.OFFLINE, True),
        (CameraState.DISABLED, 3600.0, CameraState.DISABLED, False),
        # Clock skew: a report "from the future" is fresh, not stale.
        (CameraState.ONLINE, -5.0, CameraState.ONLINE, False),
    ],
)
def test_effective_state(
    state: CameraState, age_s: float, expected: CameraState, stale: bool
) -> None:
    now = 1_000_000.0
    h = _health("cam-1", state, updated_at=now - age_s)
    assert effective_state(h, now) is expected
    reason = stale_reason(h, now)
    assert (reason is not None) is stale
    if reason:
        assert "node-1" in reason and f"last reported {state.value}" in reason


def test_current_frame_age_counts_time_since_report() -> None:
    h = _health("cam-1", last_frame_age_s=0.5, updated_at=100.0)
    assert current_frame_age(h, 103.0) == pytest.approx(3.5)
    assert current_frame_age(_health("cam-2", last_frame_age_s=None), 0.0) is None


async def test_every_state_but_online_has_a_reason_through_redis(r: redis.asyncio.Redis) -> None:
    now = time.time()
    reports = [
        _health("ok"),
        _health(
            "frozen",
            CameraState.DEGRADED,
            quality_issues=["frozen"],
            reason="picture frozen for 12 s",
        ),
        # A worker older than the `reason` field: its error or picture issues stand in.
        _health("old-frozen", CameraState.DEGRADED, quality_issues=["frozen"]),
        _health("old-down", CameraState.OFFLINE, last_error="connection refused"),
        _health("gone", updated_at=now - 60),
    ]
    await publish_health(r, reports)
    got = await read_health(r)
    reasons = {cid: state_reason(h, now) for cid, h in got.items()}
    assert reasons["ok"] is None
    assert reasons["frozen"] == "picture frozen for 12 s"
    assert reasons["old-frozen"] == "picture frozen"
    assert reasons["old-down"] == "connection refused"
    assert (reasons["gone"] or "").startswith("no health report for 60 s")
