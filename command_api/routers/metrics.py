"""Prometheus metrics of this API process (scraped on the node's internal network).

Beside the process's own counters (alarms, deliveries, live clients), each scrape reads the
fleet's health from the bus (the reports ingest workers publish) and the outbox from the
store, so any API replica answers for the whole city: cameras by state, each camera's
stream, what each ingest node carries, deliveries waiting or given up on.

Label cardinality: per-camera series carry only `camera` (plus `issue` for the few picture
problems, present only while they are), about ten series a camera: fine for Prometheus up to
a few thousand cameras. A larger city should scrape `sharpeye_cameras` and the node series
and drop `sharpeye_camera_*` with a relabel rule.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import redis
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from command_api.delivery.outbox import oldest_pending_created_at, outbox_counts
from command_api.deps import ClockDep, RedisDep, RegistryDep, SessionsDep
from sharpeye.bus.health import UNKNOWN, current_frame_age, effective_state, read_health
from sharpeye.contracts.health import CameraHealth, CameraState
from sharpeye.registry import Registry
from sharpeye.store.sqlite_memory import sqlite_memory_used

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])

# Not in Python's heap, so not in tracemalloc: told apart from a leak by this gauge.
SQLITE_MEMORY = Gauge(
    "sharpeye_sqlite_memory_bytes",
    "Memory the SQLite library holds in this process (connections' page caches, statements).",
)
SQLITE_MEMORY.set_function(lambda: float(sqlite_memory_used() or 0))

STATES = [*(s.value for s in CameraState), UNKNOWN]


@dataclass
class _Snapshot:
    """What one scrape read; `ok` flags say which sources answered."""

    now: float  # Unix time, as workers stamp health reports
    outbox_now: float  # the alarm clock, as outbox items are stamped
    registry: Registry
    health: dict[str, CameraHealth] = field(default_factory=dict)
    health_ok: bool = True
    outbox: dict[str, int] = field(default_factory=dict)
    oldest_pending_at: float | None = None
    outbox_ok: bool = True


class _FleetCollector(Collector):
    def __init__(self, snap: _Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        snap = self.snap
        up = GaugeMetricFamily(
            "sharpeye_metrics_source_up",
            "1 if this scrape could read the source (health: Redis, outbox: the store).",
            labels=["source"],
        )
        up.add_metric(["health"], float(snap.health_ok))
        up.add_metric(["outbox"], float(snap.outbox_ok))
        yield up
        if snap.health_ok:
            yield from self._cameras()
            yield from self._nodes()
        if snap.outbox_ok:
            yield from self._outbox()

    def _cameras(self) -> Iterator[Metric]:
        snap = self.snap
        states: Counter[str] = Counter()
        online = GaugeMetricFamily(
            "sharpeye_camera_online", "1 while the camera streams (online).", labels=["camera"]
        )
        fps = GaugeMetricFamily("sharpeye_camera_fps", "Frames per second.", labels=["camera"])
        kbps = GaugeMetricFamily(
            "sharpeye_camera_bitrate_kbps", "Video bitrate in kbit/s.", labels=["camera"]
        )
        age = GaugeMetricFamily(
            "sharpeye_camera_last_frame_age_seconds",
            "Seconds since the camera's last complete frame.",
            labels=["camera"],
        )
        reconnects = CounterMetricFamily(
            "sharpeye_camera_reconnects",
            "Reconnects counted by the camera's ingest worker (restarts with it).",
            labels=["camera"],
        )
        errors = CounterMetricFamily(
            "sharpeye_camera_decode_errors",
            "Stream and decode errors counted by the camera's ingest worker.",
            labels=["camera"],
        )
        issues = GaugeMetricFamily(
            "sharpeye_camera_quality_issue",
            "1 per picture problem found by the last diagnosis (black, frozen, ...).",
            labels=["camera", "issue"],
        )
        for camera in snap.registry.cameras:
            h = snap.health.get(camera.id)
            if not camera.enabled:
                states[CameraState.DISABLED.value] += 1
                continue
            if h is None:
                states[UNKNOWN] += 1
                continue
            state = effective_state(h, snap.now)
            states[state.value] += 1
            cid = [camera.id]
            online.add_metric(cid, float(state is CameraState.ONLINE))
            # A stale report's rates are from a worker that stopped: say nothing is flowing.
            live = state is not CameraState.OFFLINE
            fps.add_metric(cid, h.fps if live else 0.0)
            kbps.add_metric(cid, h.bitrate_kbps if live else 0.0)
            frame_age = current_frame_age(h, snap.now)
            if frame_age is not None:
                age.add_metric(cid, frame_age)
            reconnects.add_metric(cid, float(h.reconnects))
            errors.add_metric(cid, float(h.decode_errors))
            for issue in h.quality_issues:
                issues.add_metric([camera.id, issue], 1.0)
        yield from (online, fps, kbps, age, reconnects, errors, issues)
        by_state = GaugeMetricFamily(
            "sharpeye_cameras",
            "Registry cameras by effective state (a stale report counts offline).",
            labels=["state"],
        )
        for state_name in STATES:
            by_state.add_metric([state_name], float(states.get(state_name, 0)))
        yield by_state

    def _nodes(self) -> Iterator[Metric]:
        snap = self.snap
        cameras: Counter[str] = Counter()
        decoded: Counter[str] = Counter()
        received: Counter[str] = Counter()
        listed = {c.id for c in snap.registry.cameras}
        for cid, h in snap.health.items():
            # Only live reports: a dead worker's last ones must not keep it looking busy.
            if cid not in listed or effective_state(h, snap.now) is CameraState.OFFLINE:
                continue
            cameras[h.node_id] += 1
            decoded[h.node_id] += h.frames_decoded
            received[h.node_id] += h.frames_total
        per_node = GaugeMetricFamily(
            "sharpeye_ingest_cameras", "Cameras each ingest node reports on.", labels=["node"]
        )
        decoded_family = CounterMetricFamily(
            "sharpeye_ingest_frames_decoded",
            "Frames decoded for analytics and diagnosis, per ingest node.",
            labels=["node"],
        )
        received_family = CounterMetricFamily(
            "sharpeye_ingest_frames_received",
            "Complete frames received from cameras, per ingest node.",
            labels=["node"],
        )
        for node in sorted(cameras):
            per_node.add_metric([node], float(cameras[node]))
            decoded_family.add_metric([node], float(decoded[node]))
            received_family.add_metric([node], float(received[node]))
        yield from (per_node, decoded_family, received_family)

    def _outbox(self) -> Iterator[Metric]:
        snap = self.snap
        items = GaugeMetricFamily(
            "sharpeye_delivery_outbox_items",
            "Deliveries waiting (pending) or given up on (failed, retryable by hand).",
            labels=["state"],
        )
        for state, n in sorted(snap.outbox.items()):
            items.add_metric([state], float(n))
        yield items
        oldest = GaugeMetricFamily(
            "sharpeye_delivery_oldest_pending_seconds",
            "Age of the oldest undelivered item (0 when none): growing means delivery stalled.",
        )
        at = snap.oldest_pending_at
        oldest.add_metric([], max(0.0, snap.outbox_now - at) if at is not None else 0.0)
        yield oldest


def _read_outbox(sessions: sessionmaker[Session]) -> tuple[dict[str, int], float | None]:
    with sessions() as s:
        return outbox_counts(s), oldest_pending_created_at(s)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(
    r: RedisDep, registry: RegistryDep, sessions: SessionsDep, clock: ClockDep
) -> Response:
    snap = _Snapshot(now=time.time(), outbox_now=clock.now(), registry=registry)
    # A source that is down is reported as such; the rest of the scrape still answers.
    try:
        snap.health = await read_health(r)
    except (redis.RedisError, OSError) as e:
        snap.health_ok = False
        log.warning("metrics: health unreadable: %s", e)
    try:
        snap.outbox, snap.oldest_pending_at = await asyncio.to_thread(_read_outbox, sessions)
    except SQLAlchemyError as e:
        snap.outbox_ok = False
        log.warning("metrics: outbox unreadable: %s", e)
    fleet = CollectorRegistry(auto_describe=False)
    fleet.register(_FleetCollector(snap))
    body = generate_latest() + generate_latest(fleet)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
