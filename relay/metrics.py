"""Prometheus metrics of one relay worker (`GET /metrics`): totals only, no camera ids.

Which cameras are watched is not public (as `/relay/stats`), so nothing is labelled by
camera or viewer. The fast path pays one int add per frame and viewer (`RelayCounters`,
plain attributes, no locks: one event loop owns them); gauges are read from the relay's own
tables when Prometheus scrapes, so the sizes of every bounded structure (queues, GOP caches,
retransmission histories) can be watched over a 24-hour shift.

Each relay app has its own `CollectorRegistry`: tests run several relays in one process.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from relay.sessions import SessionManager


@dataclass(frozen=True, slots=True)
class Sizes:
    """The bounded structures of a relay, summed: what a leak would make grow."""

    sessions: int
    upstreams: int
    subscribers: int
    queued_frames: int
    gop_frames: int
    gop_bytes: int
    rtx_history: int


def sizes(manager: SessionManager) -> Sizes:
    upstreams = list(manager.pool.upstreams.values())
    subs = [s for u in upstreams for s in u.subscribers]
    return Sizes(
        sessions=len(manager.sessions),
        upstreams=len(upstreams),
        subscribers=len(subs),
        queued_frames=sum(len(s) for s in subs),
        gop_frames=sum(len(u.gop) for u in upstreams),
        gop_bytes=sum(u.gop.bytes for u in upstreams),
        rtx_history=sum(len(s.lean.history) for s in manager.sessions.values() if s.lean),
    )


class RelayCollector(Collector):
    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager

    def collect(self) -> Iterator[Metric]:
        c = self.manager.counters
        now = sizes(self.manager)
        p = "sharpeye_relay_"

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(p + name, doc, value=value)

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(p + name, doc, value=value)

        yield gauge("sessions", "WHEP viewers (sessions) open.", now.sessions)
        yield gauge("upstreams", "Camera pulls open (one per camera stream).", now.upstreams)
        yield gauge("subscribers", "Viewer queues attached to upstreams.", now.subscribers)
        yield gauge("queued_frames", "Frames waiting in viewers' queues.", now.queued_frames)
        yield gauge("gop_cache_frames", "Frames held in the GOP caches.", now.gop_frames)
        yield gauge("gop_cache_bytes", "Bytes held in the GOP caches.", now.gop_bytes)
        yield gauge(
            "rtx_history_packets", "Sent packets kept for NACK retransmission.", now.rtx_history
        )
        yield counter("rtp_packets_sent", "RTP packets sent to viewers.", c.rtp_packets)
        yield counter("rtp_bytes_sent", "SRTP bytes sent to viewers.", c.rtp_bytes)
        yield counter("nack_retransmits", "Packets sent again on a viewer's NACK.", c.retransmits)
        yield counter("frames_in", "Frames received from cameras.", c.frames_in)
        dropped = CounterMetricFamily(
            p + "frames_dropped",
            "Frames not sent to a viewer: its queue overflowed (it fell behind) or the "
            "camera reconnected.",
            labels=["reason"],
        )
        dropped.add_metric(["overflow"], c.dropped_overflow)
        dropped.add_metric(["reconnect"], c.dropped_reconnect)
        yield dropped
        yield counter("upstream_opens", "Camera pulls opened.", c.upstream_opens)
        yield counter(
            "upstream_reconnects", "Camera pulls lost and reopened.", c.upstream_reconnects
        )
        yield counter("sessions_started", "WHEP sessions answered.", c.sessions_started)
        yield counter("viewer_rechecks", "Viewer rechecks the API answered.", c.rechecks)
        yield counter(
            "viewer_recheck_failures",
            "Viewer rechecks the API did not answer (the views were kept).",
            c.recheck_failures,
        )
        ended = CounterMetricFamily(p + "sessions_ended", "WHEP sessions ended.", labels=["reason"])
        for reason, n in c.sessions_ended.items():
            ended.add_metric([reason], n)
        yield ended


def registry_for(manager: SessionManager) -> CollectorRegistry:
    """The relay's metrics beside the process's own (memory, CPU, GC, Python)."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(RelayCollector(manager))
    for default in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(default)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
