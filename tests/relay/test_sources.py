"""Upstream identity: a registry edit to how a camera is reached gives new viewers a new pull."""

from __future__ import annotations

from dataclasses import replace

from camera.rtsp.tls import TlsOptions
from relay.sources import SourceSpec

PIN = ":".join(["AB"] * 32)
URL = "rtsps://127.0.0.1:8322/gate"
BASE = SourceSpec(
    camera_id="gate",
    stream="sub",
    url=URL,
    username="op",
    password="pw-1",
    tls=TlsOptions(sha256=PIN),
)


def test_the_same_way_in_shares_one_upstream() -> None:
    assert replace(BASE).key == BASE.key
    # A pin written another way is the same pin.
    assert replace(BASE, tls=TlsOptions(sha256=PIN.lower().replace(":", ""))).key == BASE.key


def test_any_change_to_how_the_camera_is_reached_is_a_new_upstream() -> None:
    changed = [
        replace(BASE, url="rtsps://127.0.0.1:8322/gate2"),
        replace(BASE, stream="main"),
        replace(BASE, username="op2"),
        replace(BASE, password="pw-2"),
        replace(BASE, tls=TlsOptions(sha256=":".join(["CD"] * 32))),
        replace(BASE, tls=TlsOptions(ca_file="/etc/sharpeye/ca.pem")),
        replace(BASE, tls=None),
        # The registry's `ingest` choice: which client pulls it, over which transport.
        replace(BASE, reader="pyav"),
        replace(BASE, reader="native"),
        replace(BASE, transport="udp"),
    ]
    keys = {spec.key for spec in changed}
    assert len(keys) == len(changed) and BASE.key not in keys


def test_the_key_holds_no_password() -> None:
    assert "pw-1" not in repr(BASE.key) and "pw-1" not in repr(BASE)
