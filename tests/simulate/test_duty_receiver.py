"""The simulated duty system: the platform's real signed webhooks land on it, bad or stale
signatures are refused, and what landed is on its page. End to end: an event on the bus →
an alarm → the delivery worker → real HTTP to the receiver → a row on its page (also in
headless Chromium with nothing allowed off 127.0.0.1), the escalation after it too."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from command_api.auth.passwords import use_cheap_hashing_for_tests
from sharpeye.contracts.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, sign
from sharpeye.registry import load_registry
from sharpeye.simulate.duty_receiver import DutyReceiver, demo_destinations
from tests.command_api.harness import DEMO_REGISTRY, NOON, event, harness
from tests.wall_ui.conftest import CHROMIUM, CHROMIUM_ARGS

SECRET = "demo-receiver-secret-0123456789abcdef"


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[DutyReceiver]:
    r = DutyReceiver(secret=SECRET, keep=100, journal=tmp_path / "received.jsonl")
    r.up()
    try:
        yield r
    finally:
        r.down()


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return e.code


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        text: str = resp.read().decode()
        return text


def test_signed_deliveries_are_kept_and_bad_ones_refused(
    receiver: DutyReceiver, tmp_path: Path
) -> None:
    body = json.dumps({"change": "created", "alarm": {"id": 7, "title": "Fire <b>"}}).encode()
    url = receiver.url("/duty/forestry/0")
    now = int(time.time())
    good = {SIGNATURE_HEADER: sign(SECRET, now, body), IDEMPOTENCY_HEADER: "alarm-7-created"}
    assert _post(url, body, good) == 200
    assert _post(url, body, {}) == 401
    assert _post(url, body, {SIGNATURE_HEADER: sign("another-secret-0123456789", now, body)}) == 401
    assert _post(url, body, {SIGNATURE_HEADER: sign(SECRET, now - 3600, body)}) == 401
    assert _post(url, body + b" ", good) == 401  # the body changed after signing
    (kept,) = receiver.at("/duty/forestry/0")
    assert kept.verified is True and kept.json["alarm"]["id"] == 7
    assert receiver.refused == 4
    page = _get(receiver.url("/"))
    assert "Fire &lt;b&gt;" in page and "<b>" not in page.split("<body>")[1]
    assert "4 refused" in page and "duty desk" in page
    # A restarted receiver shows what it had taken (the journal).
    again = DutyReceiver(secret=SECRET, keep=100, journal=tmp_path / "received.jsonl")
    assert [r.summary()["alarm_id"] for r in again.received] == [7]


def test_memory_and_journal_stay_bounded(tmp_path: Path) -> None:
    r = DutyReceiver(keep=5, journal=tmp_path / "j.jsonl")
    for i in range(23):
        assert r.take(f"/duty/police/{i % 3}", {}, json.dumps({"alarm": {"id": i}}).encode())
    assert [x.json["alarm"]["id"] for x in r.received] == list(range(18, 23))
    lines = (tmp_path / "j.jsonl").read_text().splitlines()
    assert len(lines) <= 10 and json.loads(lines[-1])["body"] == json.dumps({"alarm": {"id": 22}})


async def _until(predicate: Callable[[], bool], what: str) -> None:
    for _ in range(1500):  # hang guard only
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.mark.integration
async def test_an_alarm_reaches_the_receiver_page(
    tmp_path: Path, redis_url: str, receiver: DutyReceiver
) -> None:
    use_cheap_hashing_for_tests()
    departments = [(d.id, d.name) for d in load_registry(DEMO_REGISTRY).departments]
    async with harness(tmp_path, redis_url) as api:
        admin = await api.login("admin")
        # As `sharpeye up` does: every department's desk, officer and head → the receiver.
        for dest_id, body in demo_destinations(departments, receiver.url("/"), SECRET).items():
            r = await api.client.put(f"/api/destinations/{dest_id}", json=body, headers=admin)
            assert r.status_code == 200, r.text
        await api.publish(event("fire", "forest-lookout-1", at=NOON, score=0.9))
        await _until(
            lambda: bool(receiver.at("/duty/forestry/0") and receiver.at("/duty/police/0")),
            "the fire alarm at both departments' desks",
        )
        assert receiver.at("/duty/forestry/1") == []  # the officer waits for escalation
        api.clock.advance(121)
        await api.services.escalate_once()
        await _until(
            lambda: bool(receiver.at("/duty/forestry/1") and receiver.at("/duty/police/1")),
            "the escalation to both duty officers",
        )
    (desk,) = receiver.at("/duty/forestry/0")
    assert desk.verified and desk.json["change"] == "created"
    assert desk.json["alarm"]["camera_id"] == "forest-lookout-1"
    escalated = receiver.at("/duty/forestry/1")[0].json
    assert escalated["change"] == "escalated" and escalated["alarm"]["escalation_level"] == 1
    assert receiver.refused == 0
    rows = json.loads(await asyncio.to_thread(_get, receiver.url("/api/received")))
    assert {(r["department"], r["level"], r["change"]) for r in rows} >= {
        ("forestry", "duty desk", "created"),
        ("police", "duty desk", "created"),
        ("forestry", "duty officer", "escalated"),
    }
    await asyncio.to_thread(_page_shows, receiver.url("/"), desk.json["alarm"])


def _page_shows(url: str, alarm: dict[str, Any]) -> None:
    """The receiver's page in headless Chromium, every request off 127.0.0.1 refused."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (scripts/install-system.sh)")
    refused: list[str] = []

    def only_loopback(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.route("**/*", only_loopback)
            page = context.new_page()
            page.goto(url)
            rows = page.locator(f"tr.delivery[data-alarm-id='{alarm['id']}']")
            assert rows.count() == 4  # both departments' desks, then both duty officers
            texts = rows.all_inner_texts()
            assert all(alarm["title"] in t and alarm["camera_name"] in t for t in texts)
            assert any("escalated" in t and "duty officer" in t for t in texts)
            assert rows.first.is_visible()
        finally:
            browser.close()
    assert refused == []
