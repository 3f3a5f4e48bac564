"""ICE policy: candidates the relay must not try, and announced addresses."""

from __future__ import annotations

from relay.ice import announce, filter_remote_candidates, loopback_only

OFFER = (
    "v=0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    "a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\n"
    "a=candidate:2 1 udp 2122260223 192.0.2.10 50001 typ host\r\n"
    "a=candidate:3 1 udp 2122260223 3f1c2a.local 50002 typ host\r\n"
)


def test_loopback_relay_keeps_only_loopback_candidates() -> None:
    out = filter_remote_candidates(OFFER, only_loopback=True)
    assert "127.0.0.1 50000" in out
    assert "192.0.2.10" not in out and ".local" not in out


def test_mdns_candidates_are_always_dropped() -> None:
    out = filter_remote_candidates(OFFER, only_loopback=False)
    assert "192.0.2.10 50001" in out and ".local" not in out


def test_announce_rewrites_host_candidates() -> None:
    out = announce(OFFER, "203.0.113.5")
    assert out.count("203.0.113.5") == 3
    assert announce(OFFER, None) == OFFER


def test_loopback_only() -> None:
    assert loopback_only(["127.0.0.1"])
    assert not loopback_only(["127.0.0.1", "10.0.0.1"])
    assert not loopback_only(["auto"])
