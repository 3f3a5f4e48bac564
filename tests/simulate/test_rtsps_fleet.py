"""The simulated fleet over RTSPS: the same cameras on a TLS port, seen by real clients
(FFmpeg through PyAV, and Python's ssl for the certificate it presents)."""

from __future__ import annotations

import hashlib
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from sharpeye.simulate.fleet import registry_mounts
from tests.fixtures_fleet import REPO, Fleet, stop_and_check
from tests.fixtures_tls import Pki, make_pki

REGISTRY = """\
version: 1
cameras:
  - id: quay
    streams:
      main: rtsps://127.0.0.1:{tls_port}/sim/vtest-360p/quay
      sub: rtsp://127.0.0.1:{port}/sim/vtest-360p/quay
  - id: vault
    streams: {{main: "rtsps://localhost:{tls_port}/secure/vtest-360p/vault"}}
  - id: wrong-scheme
    streams: {{main: "rtsp://127.0.0.1:{tls_port}/sim/vtest-360p/nope"}}
  - id: elsewhere
    streams: {{main: "rtsps://127.0.0.1:1/sim/vtest-360p/elsewhere"}}
"""


def test_registry_mounts_take_rtsps_urls_on_the_tls_port(tmp_path: Path) -> None:
    registry = tmp_path / "r.yaml"
    registry.write_text(REGISTRY.format(port=8554, tls_port=8322))
    both = {
        "/sim/vtest-360p/quay": "vtest-360p",
        "/secure/vtest-360p/vault": "vtest-360p",
    }
    assert registry_mounts(registry, 8554, rtsps_port=8322) == both
    # Without TLS only the plain sub stream is this server's.
    assert registry_mounts(registry, 8554) == {"/sim/vtest-360p/quay": "vtest-360p"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def sim(
    footage: dict[str, Path], pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    pytest.importorskip("gi")
    registry = tmp_path_factory.mktemp("fleet") / "registry.yaml"
    fleet = Fleet(cameras=0, registry=registry, tls=(pki.server.cert, pki.server.key))
    registry.write_text(REGISTRY.format(port=fleet.port, tls_port=fleet.tls_port))
    fleet.start()
    yield fleet
    stop_and_check(fleet)


@pytest.mark.integration
def test_ready_line_names_both_ports(sim: Fleet) -> None:
    assert (
        f"== fleet ready: 2 cameras on rtsp://127.0.0.1:{sim.port} "
        f"and rtsps://127.0.0.1:{sim.tls_port}"
    ) in sim.output


@pytest.mark.integration
def test_tls_port_presents_the_given_certificate(sim: Fleet, pki: Pki) -> None:
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    assert sim.tls_port is not None
    with (
        socket.create_connection(("127.0.0.1", sim.tls_port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        digest = hashlib.sha256(der).digest()
    assert ":".join(f"{b:02X}" for b in digest) == pki.server.sha256


@pytest.mark.integration
def test_ffmpeg_reads_video_over_rtsps_with_digest(sim: Fleet) -> None:
    """An independent client: FFmpeg's RTSP over its own TLS, credentials on /secure."""
    opts = {"rtsp_transport": "tcp", "analyzeduration": "100000"}
    for url in (
        sim.url("/sim/vtest-360p/quay", tls=True),
        sim.url("/secure/vtest-360p/vault", sim.user, sim.password, tls=True, host="localhost"),
    ):
        frames = 0
        with av.open(url, options=opts, timeout=10) as container:
            for frame in container.decode(video=0):
                assert (frame.width, frame.height) == (640, 360)
                frames += 1
                if frames >= 10:
                    break
        assert frames == 10


def test_rtsps_needs_a_certificate_and_key() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "sharpeye.cli", "simulate", "--rtsps-port", "8322"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert "RTSPS needs --rtsps-port, --tls-cert and --tls-key" in run.stdout + run.stderr
