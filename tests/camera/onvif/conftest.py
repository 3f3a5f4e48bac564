"""Real peers for the ONVIF tests: ipycam-based devices on free loopback ports, and a minimal
gst-rtsp-server for the stream URIs they hand out."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from sharpeye.simulate.onvif_peer import OnvifDeviceConfig, OnvifPeer, start_onvif_devices

USER = "operator"
PASSWORD = "Pw-9f3!never-print"  # distinctive, so a leak into any message is easy to spot
RTSP_PATH_MAIN = "/sim/vtest-720p/cam-onvif-1"
RTSP_PATH_SUB = "/sim/vtest-360p/cam-onvif-1"

# One live test pattern served on both paths: enough to prove a returned URI plays. Small and
# ultrafast so it starts in well under a second; a keyframe every 5 frames so a reader decodes
# quickly wherever it joins.
_RTSP_SERVER = """
import sys, gi
gi.require_version("Gst", "1.0"); gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer
Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1"); server.set_service("0")
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    "( videotestsrc is-live=true ! video/x-raw,width=320,height=180,framerate=10/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=5 "
    "! rtph264pay name=pay0 pt=96 config-interval=-1 )")
factory.set_shared(True)
for path in sys.argv[1:]:
    server.get_mount_points().add_factory(path, factory)
server.attach(None)
print(server.get_bound_port(), flush=True)
GLib.MainLoop().run()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def rtsp_base() -> Iterator[str]:
    """`rtsp://127.0.0.1:PORT` of a running minimal RTSP server (both test paths mounted)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _RTSP_SERVER, RTSP_PATH_MAIN, RTSP_PATH_SUB],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.isdigit():
            stderr = proc.stderr.read() if proc.stderr else ""
            pytest.skip(f"gst-rtsp-server could not start (GStreamer gi missing?): {stderr[-300:]}")
        yield f"rtsp://127.0.0.1:{line}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def device(name: str = "cam-onvif-1", **overrides: object) -> OnvifDeviceConfig:
    values: dict[str, object] = {
        "name": name,
        "port": 0,
        "username": USER,
        "password": PASSWORD,
        "rtsp_main": f"rtsp://127.0.0.1:8554{RTSP_PATH_MAIN}",
        "rtsp_sub": f"rtsp://127.0.0.1:8554{RTSP_PATH_SUB}",
        "serial": "SIM-TEST-1",
    }
    values.update(overrides)
    return OnvifDeviceConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
def onvif_peer() -> Iterator[OnvifPeer]:
    """One simulated device with main + sub profiles on a free loopback port."""
    peer = start_onvif_devices([device()])
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def closed_port() -> int:
    return free_port()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (kernel backlog) but never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield int(s.getsockname()[1])
