"""GET /metrics: the fleet's health from the bus, ingest nodes, the delivery outbox, and
alarms routed to nobody (warned about and counted), against real Redis and the real app."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from command_api.delivery.outbox import outbox_counts
from sharpeye.bus.health import publish_health
from sharpeye.contracts.health import CameraHealth, CameraState
from tests.command_api.harness import Harness, event, harness
from tests.command_api.receiver import Receiver

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
async def api(tmp_path: Path, redis_url: str) -> AsyncIterator[Harness]:
    async with harness(tmp_path, redis_url) as h:
        yield h


async def _scrape(api: Harness) -> Samples:
    r = await api.client.get("/metrics")
    assert r.status_code == 200
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _health(camera_id: str, state: CameraState, **kw: object) -> CameraHealth:
    fields: dict[str, object] = {
        "camera_id": camera_id,
        "node_id": "node-a",
        "state": state,
        "fps": 25.0,
        "bitrate_kbps": 2000.0,
        "last_frame_age_s": 0.04,
        "reconnects": 2,
        "frames_total": 1000,
        "frames_decoded": 40,
        "updated_at": time.time(),
    }
    fields.update(kw)
    return CameraHealth.model_validate(fields)


async def test_camera_health_node_and_state_counts(api: Harness) -> None:
    cameras = [c for c in api.runtime.registry.registry.cameras if c.enabled]
    online, frozen, dead = (c.id for c in cameras[:3])
    await publish_health(
        api.redis,
        [
            _health(online, CameraState.ONLINE),
            _health(
                frozen,
                CameraState.DEGRADED,
                node_id="node-b",
                quality_issues=["frozen"],
                reason="picture frozen for 70 s",
            ),
            # Its worker stopped a minute ago: offline, and no longer counted on its node.
            _health(dead, CameraState.ONLINE, node_id="node-c", updated_at=time.time() - 60),
        ],
    )
    m = await _scrape(api)
    assert m[("sharpeye_camera_online", (("camera", online),))] == 1
    assert m[("sharpeye_camera_online", (("camera", frozen),))] == 0
    assert m[("sharpeye_camera_online", (("camera", dead),))] == 0
    assert m[("sharpeye_camera_fps", (("camera", online),))] == 25
    assert m[("sharpeye_camera_fps", (("camera", dead),))] == 0  # stale rates are not rates
    assert m[("sharpeye_camera_bitrate_kbps", (("camera", online),))] == 2000
    assert m[("sharpeye_camera_reconnects_total", (("camera", online),))] == 2
    assert m[("sharpeye_camera_last_frame_age_seconds", (("camera", dead),))] >= 60
    assert m[("sharpeye_camera_quality_issue", (("camera", frozen), ("issue", "frozen")))] == 1
    assert ("sharpeye_camera_quality_issue", (("camera", online), ("issue", "frozen"))) not in m
    states = {k[1][0][1]: v for k, v in m.items() if k[0] == "sharpeye_cameras"}
    unreported = len(api.runtime.registry.registry.cameras) - 3
    assert states["online"] == 1 and states["degraded"] == 1 and states["offline"] == 1
    assert states["unknown"] + states["disabled"] == unreported
    assert m[("sharpeye_ingest_cameras", (("node", "node-a"),))] == 1
    assert m[("sharpeye_ingest_cameras", (("node", "node-b"),))] == 1
    assert ("sharpeye_ingest_cameras", (("node", "node-c"),)) not in m
    assert m[("sharpeye_ingest_frames_decoded_total", (("node", "node-a"),))] == 40
    assert m[("sharpeye_metrics_source_up", (("source", "health"),))] == 1


async def test_pending_delivery_counted_and_aged(api: Harness) -> None:
    receiver = Receiver()  # never up: the item stays pending
    try:
        admin = await api.login("admin")
        body = {"name": "Forestry desk", "department": "forestry", "kind": "webhook"}
        body["url"] = receiver.url("/forestry")
        r = await api.client.put("/api/destinations/forestry-desk", json=body, headers=admin)
        assert r.status_code == 200, r.text
        await api.publish(event("fire", "forest-lookout-1", score=0.9))
        await api.wait_for(lambda: _pending(api) >= 1, "a pending delivery")
        api.clock.advance(30)
        m = await _scrape(api)
        assert m[("sharpeye_delivery_outbox_items", (("state", "pending"),))] >= 1
        assert m[("sharpeye_delivery_outbox_items", (("state", "failed"),))] == 0
        assert m[("sharpeye_delivery_oldest_pending_seconds", ())] >= 30
        assert m[("sharpeye_deliveries_total", (("kind", "webhook"), ("outcome", "failed")))] >= 1
    finally:
        receiver.down()


def _pending(api: Harness) -> int:
    with api.runtime.sessions() as s:
        return outbox_counts(s)["pending"]


async def test_alarm_routed_to_nobody_is_warned_and_counted(
    api: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    def unrouted(m: Samples, reason: str) -> float:
        return m.get(("sharpeye_alarms_unrouted_total", (("reason", reason),)), 0.0)

    before = await _scrape(api)
    with caplog.at_level(logging.WARNING, logger="command_api.delivery.outbox"):
        # No destination at all yet: the fire alarm reaches nobody.
        await api.publish(event("fire", "forest-lookout-1", score=0.9, dedupe_key="f1"))
        await api.wait_for(lambda: "routed to nobody" in caplog.text, "the warning")
        warning = next(r for r in caplog.records if "routed to nobody" in r.getMessage())
        text = warning.getMessage()
        assert warning.levelno == logging.WARNING
        assert "forest-fire" in text and "forest-lookout-1" in text and "alarm 1 " in text
        after_create = await _scrape(api)
        assert unrouted(after_create, "no_destination") == unrouted(before, "no_destination") + 1
        # A desk at level 0 only: the alarm escalates to level 1, where nobody is.
        admin = await api.login("admin")
        body = {"name": "Forestry desk", "department": "forestry", "kind": "webhook"}
        body["url"] = "http://127.0.0.1:9/never"
        r = await api.client.put("/api/destinations/forestry-desk", json=body, headers=admin)
        assert r.status_code == 200, r.text
        api.clock.advance(121)
        assert await api.services.escalate_once()
    after = await _scrape(api)
    assert (
        unrouted(after, "no_destination_at_level")
        == unrouted(before, "no_destination_at_level") + 1
    )
    assert sum(1 for r in caplog.records if "routed to nobody" in r.getMessage()) == 2


async def test_sqlite_memory_is_exported(api: Harness) -> None:
    # The store's page caches live outside Python's heap; the gauge is how a shift tells
    # their filling from a leak.
    admin = await api.login("admin")
    assert (await api.client.get("/api/alarms", headers=admin)).status_code == 200
    m = await _scrape(api)
    assert m[("sharpeye_sqlite_memory_bytes", ())] > 0
