"""Delivery to real receivers on 127.0.0.1: signed webhooks and Apprise (json://).
Receiver down → failures visible, nothing dropped; receiver up → every alarm delivered,
in order per destination, no idempotency key twice."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from sharpeye.contracts.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify
from tests.command_api.harness import NOON, Harness, event, harness
from tests.command_api.receiver import Receiver

pytestmark = pytest.mark.integration

SECRET = "forestry-webhook-secret-0123456789"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.down()


@pytest.fixture
async def api(
    tmp_path: Path, redis_url: str, receiver: Receiver, database_url: str
) -> AsyncIterator[Harness]:
    async with harness(tmp_path, redis_url, database_url) as h:
        admin = await h.login("admin")
        destinations = {
            "forestry-desk": {
                "name": "Forestry duty desk",
                "department": "forestry",
                "kind": "webhook",
                "url": receiver.url("/forestry"),
                "secret": SECRET,
            },
            "police-desk": {
                "name": "Police command desk (Apprise)",
                "department": "police",
                "kind": "apprise",
                "url": f"json://127.0.0.1:{receiver.port}/police",
            },
            "forestry-officer": {
                "name": "Forestry duty officer",
                "department": "forestry",
                "kind": "webhook",
                "url": receiver.url("/officer"),
                "secret": SECRET,
                "level": 1,
            },
        }
        for dest_id, body in destinations.items():
            r = await h.client.put(f"/api/destinations/{dest_id}", json=body, headers=admin)
            assert r.status_code == 200, r.text
            assert "url" not in r.json() and "secret" not in r.json()
        yield h


async def _until(predicate: Any, what: str) -> None:
    for _ in range(1500):  # hang guard only
        if await predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


async def _deliveries(api: Harness, **params: Any) -> list[dict[str, Any]]:
    r = await api.client.get(
        "/api/deliveries", params={"limit": 1000, **params}, headers=await api.login("admin")
    )
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()
    return rows


def _fires(n: int) -> list[Any]:
    return [
        event("fire", "forest-lookout-1", at=NOON + i, score=0.9, dedupe_key=f"fire:{i}")
        for i in range(n)
    ]


async def test_signed_webhook_and_apprise(api: Harness, receiver: Receiver) -> None:
    receiver.up()
    await api.publish(_fires(1)[0])
    await _until(
        lambda: _now(len(receiver.at("/forestry")) == 1 and len(receiver.at("/police")) == 1),
        "delivery",
    )
    (hook,) = receiver.at("/forestry")
    assert verify(SECRET, hook.headers[SIGNATURE_HEADER], hook.body)
    assert not verify("wrong-secret-wrong-secret", hook.headers[SIGNATURE_HEADER], hook.body)
    assert hook.json["change"] == "created" and hook.json["alarm"]["departments"] == [
        "forestry",
        "police",
    ]
    assert hook.headers[IDEMPOTENCY_HEADER] == hook.json["idempotency_key"]
    (apprise,) = receiver.at("/police")
    assert (
        "Fire or smoke" in apprise.json["title"] and "forest-lookout-1" in apprise.json["message"]
    )
    assert receiver.at("/officer") == []  # level 1 waits for escalation
    api.clock.advance(121)
    await api.services.escalate_once()
    await _until(lambda: _now(len(receiver.at("/officer")) == 1), "escalation delivery")
    assert receiver.at("/officer")[0].json["change"] == "escalated"


async def test_receiver_down_then_up_delivers_all_in_order_once(
    api: Harness, receiver: Receiver
) -> None:
    n = 30
    for e in _fires(n):
        await api.publish(e)

    async def failing_visible() -> bool:
        rows = await _deliveries(api, failing=True, state="pending")
        return sum(r["attempts"] >= 2 for r in rows) >= 2

    async with _ticking(api):
        await _until(failing_visible, "failed attempts to show")
        pending = await _deliveries(api, state="pending")
        assert len(pending) == 2 * n
        assert any("ConnectError" in (r["last_error"] or "") for r in pending)
        receiver.up()
        await _until(
            lambda: _now(len(receiver.at("/forestry")) >= n and len(receiver.at("/police")) >= n),
            "all delivered",
        )
    await asyncio.sleep(0.3)  # let any stray duplicate arrive before counting
    for path, key_of in (
        ("/forestry", lambda r: r.headers[IDEMPOTENCY_HEADER]),
        ("/police", lambda r: re.search(r"ref (\S+)", r.json["message"]).group(1)),  # type: ignore[union-attr]
    ):
        keys = [key_of(r) for r in receiver.at(path)]
        assert len(keys) == len(set(keys)) == n, path
        ids = [int(k.split("-")[1]) for k in keys]
        assert ids == sorted(ids), f"{path} out of order"
    assert not await _deliveries(api, state="pending")


async def _now(value: bool) -> bool:
    return value


@asynccontextmanager
async def _ticking(api: Harness, step_s: float = 0.5) -> AsyncIterator[None]:
    """Move the manual clock on while the body runs, so retry backoffs come due."""

    async def tick() -> None:
        while True:
            await asyncio.sleep(0.01)
            api.clock.advance(step_s)

    task = asyncio.create_task(tick())
    try:
        yield
    finally:
        task.cancel()


async def test_gave_up_delivery_is_shown_and_retried(
    tmp_path: Path, redis_url: str, receiver: Receiver
) -> None:
    from command_api.delivery.worker import RetryPolicy

    async with harness(
        tmp_path, redis_url, retry=RetryPolicy(base_s=0.01, cap_s=0.01, max_attempts=2)
    ) as h:
        admin = await h.login("admin")
        dest = {
            "name": "Desk",
            "department": "forestry",
            "kind": "webhook",
            "url": receiver.url("/desk"),
        }
        assert (
            await h.client.put("/api/destinations/desk", json=dest, headers=admin)
        ).status_code == 200
        await h.publish(_fires(1)[0])
        async with _ticking(h):
            await _until(lambda: _failed_count(h), "the delivery to give up")
        (failed,) = await _deliveries(h, state="failed")
        assert failed["attempts"] == 2 and "ConnectError" in failed["last_error"]
        receiver.up()
        r = await h.client.post(f"/api/deliveries/{failed['id']}/retry", headers=admin)
        assert r.status_code == 200 and r.json()["state"] == "pending"
        assert (
            await h.client.post(f"/api/deliveries/{failed['id']}/retry", headers=admin)
        ).status_code == 409
        await _until(lambda: _now(len(receiver.at("/desk")) == 1), "the retried delivery")


async def _failed_count(h: Harness) -> bool:
    return len(await _deliveries(h, state="failed")) == 1
