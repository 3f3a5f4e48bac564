"""The relay's monotonic counters, bumped on the fast path (one int add per frame and viewer,
plain attributes, no locks: one event loop owns them) and exposed by `relay.metrics`.

A leaf module: the upstreams, subscribers and senders that count import only this, and
`relay.metrics` (which reads the session tables when Prometheus scrapes) sits above them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Why a session ended: DELETE, its connection failed (ICE consent expired: the viewer vanished)
# or closed, it never connected, the API no longer allows its viewer (relay.recheck), it
# reached the maximum session length, the relay stopped.
END_REASONS = (
    "delete",
    "failed",
    "closed",
    "never_connected",
    "revoked",
    "max_length",
    "shutdown",
)


@dataclass(slots=True)
class RelayCounters:
    """Monotonic totals of one relay worker since it started."""

    rtp_packets: int = 0
    rtp_bytes: int = 0  # SRTP-protected bytes handed to the socket, as aiortc's tx_bytes
    retransmits: int = 0  # packets sent again on a viewer's NACK
    frames_in: int = 0
    dropped_overflow: int = 0  # frames thrown away because a viewer fell behind
    dropped_reconnect: int = 0  # frames queued when their upstream reconnected
    upstream_opens: int = 0
    upstream_reconnects: int = 0
    sessions_started: int = 0
    rechecks: int = 0  # batches of viewer tokens the API answered (relay.recheck)
    recheck_failures: int = 0  # rechecks the API did not answer (views kept meanwhile)
    sessions_ended: dict[str, int] = field(default_factory=lambda: dict.fromkeys(END_REASONS, 0))
