"""Prometheus metrics of the alarm pipeline (served by GET /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter("sharpeye_events_consumed_total", "Events read from the stream and stored.")
MALFORMED = Counter("sharpeye_events_malformed_total", "Stream entries that did not parse.")
ALARM_CHANGES = Counter(
    "sharpeye_alarm_changes_total", "Alarms created or changed.", ["rule", "change"]
)
DELIVERIES = Counter(
    "sharpeye_deliveries_total", "Delivery attempts by destination kind.", ["kind", "outcome"]
)
DELIVERY_DELAY = Histogram(
    "sharpeye_delivery_delay_seconds",
    "From outbox write to delivery.",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
UNROUTED = Counter(
    "sharpeye_alarms_unrouted_total",
    "Alarm routing steps (creation, escalation) that reached no destination, by reason: "
    "no_department, no_destination, no_destination_at_level, below_min_severity.",
    ["reason"],
)
BUS_REFUSED = Counter(
    "sharpeye_bus_messages_refused_total",
    "Alarm messages on the bus without a valid seal (forged, or an API replica with another "
    "SHARPEYE_TOKEN_SECRET), dropped before any wall saw them.",
)
LIVE_CLIENTS = Gauge("sharpeye_live_clients", "WebSocket clients connected to this process.")


def events_stored(events: int, malformed: int) -> None:
    EVENTS.inc(events)
    MALFORMED.inc(malformed)


def alarm_change(rule: str, change: str) -> None:
    ALARM_CHANGES.labels(rule, change).inc()


def delivery_result(kind: str, ok: bool, delay_s: float) -> None:
    DELIVERIES.labels(kind, "delivered" if ok else "failed").inc()
    if ok:
        DELIVERY_DELAY.labels(kind).observe(max(0.0, delay_s))


def alarm_unrouted(reason: str) -> None:
    UNROUTED.labels(reason).inc()
