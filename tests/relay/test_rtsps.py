"""The relay pulls an rtsps:// camera (its own pull, through ingest's TLS client) and plays it
to a WHEP viewer; an untrusted certificate is a clear refusal naming the camera."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay.whep_client import WhepRefused, WhepViewer
from sharpeye.registry import parse_registry
from tests.fixtures_fleet import Fleet, stop_and_check
from tests.fixtures_tls import make_pki
from tests.relay.fixtures_relay import RelayHandle, eventually, start_relay

pytestmark = pytest.mark.integration

REGISTRY = """\
version: 1
district: {{id: t, name: T}}
departments: [{{id: police, name: Police, kind: police}}]
cameras:
  - id: quay
    name: Quay over TLS
    department: police
    location: {{lat: 31.8, lon: 117.2}}
    streams:
      main: rtsps://127.0.0.1:{tls_port}/secure/vtest-360p/quay
    credentials: {{username: {user}, password_env: SHARPEYE_TEST_RTSPS_PASSWORD}}
    tls: {{ca_file: {ca}}}
  - id: pinned
    name: Self-signed, pinned
    department: police
    location: {{lat: 31.8, lon: 117.2}}
    streams: {{main: "rtsps://127.0.0.1:{tls_port}/sim/vtest-360p/pinned"}}
    tls: {{sha256: "{pin}"}}
  - id: stranger
    name: Certificate of another CA
    department: police
    location: {{lat: 31.8, lon: 117.2}}
    streams: {{main: "rtsps://127.0.0.1:{tls_port}/sim/vtest-360p/stranger"}}
    tls: {{ca_file: {other_ca}}}
"""


async def first_frame_size(url: str, token: str) -> tuple[int, int]:
    viewer = WhepViewer(url, token)
    await viewer.start()
    try:
        async for frame in viewer.frames():
            return int(frame.width), int(frame.height)
    finally:
        await viewer.stop()
    raise AssertionError("no frame")


async def test_relay_plays_rtsps_cameras(
    footage: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pki = make_pki(tmp_path / "pki")
    registry = tmp_path / "registry.yaml"
    fleet = Fleet(cameras=0, registry=registry, tls=(pki.server.cert, pki.server.key))
    registry.write_text(
        REGISTRY.format(
            tls_port=fleet.tls_port,
            user=fleet.user,
            ca=pki.ca.cert,
            pin=pki.server.sha256,
            other_ca=pki.other_ca.cert,
        )
    )
    monkeypatch.setenv("SHARPEYE_TEST_RTSPS_PASSWORD", fleet.password)
    fleet.start()
    relay: RelayHandle = start_relay(parse_registry(registry.read_text(), "rtsps"), tmp_path)
    try:
        # Digest credentials over TLS, trusting the camera CA's bundle.
        assert await first_frame_size(relay.whep("quay", "main"), relay.token("quay")) == (
            640,
            360,
        )
        quay = relay.upstream("quay")
        assert quay.opens == 1
        # The pull keeps reading (the non-blocking TLS reads), not just the set-up's bytes.
        frames = quay.frames
        await eventually(lambda: quay.frames >= frames + 25, timeout=10)
        assert quay.opens == 1
        # A self-signed camera accepted by its pinned fingerprint.
        assert await first_frame_size(relay.whep("pinned", "main"), relay.token("pinned")) == (
            640,
            360,
        )
        with pytest.raises(WhepRefused) as refused:
            await WhepViewer(relay.whep("stranger", "main"), relay.token("stranger")).start()
        assert refused.value.status == 502
        detail = refused.value.detail
        assert detail == "camera stranger: TLS certificate not trusted"
        assert fleet.password not in detail
    finally:
        relay.stop()
        stop_and_check(fleet)
