"""The simulated ONVIF device itself: registry-driven fleet, SOAP corrections over ipycam."""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from camera.onvif import OnvifAuthError, probe_device
from sharpeye.simulate.onvif_peer import (
    DEFAULT_PASSWORD,
    OnvifPeer,
    registry_devices,
    serve_registry_devices,
    start_onvif_devices,
)
from tests.camera.onvif.conftest import device, free_port

pytestmark = pytest.mark.integration

REGISTRY = """
cameras:
  - id: cam-a
    onvif:
      host: 127.0.0.1
      port: {port_a}
      credentials: {{username: admin, password_env: TEST_ONVIF_PW_A}}
  - id: cam-b
    streams:
      main: rtsp://127.0.0.1:9999/custom/main
      sub: rtsp://127.0.0.1:9999/custom/sub
    onvif:
      host: 127.0.0.1
      port: {port_b}
      credentials: {{username_env: TEST_ONVIF_USER_B, password_env: TEST_ONVIF_UNSET}}
  - id: cam-remote
    onvif: {{host: 10.1.2.3, port: 80}}
  - id: cam-rtsp-only
    streams: {{main: rtsp://127.0.0.1:8554/sim/tree-720p/cam-rtsp-only}}
"""


def _soap(port: int, body: str) -> tuple[int, str]:
    envelope = (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:tds="http://www.onvif.org/ver10/device/wsdl">'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/onvif/device_service",
        data=envelope,
        headers={"Content-Type": "application/soap+xml; charset=utf-8"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_registry_devices_serve_on_their_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port_a, port_b = free_port(), free_port()
    registry = tmp_path / "registry.yaml"
    registry.write_text(REGISTRY.format(port_a=port_a, port_b=port_b), encoding="utf-8")
    monkeypatch.setenv("TEST_ONVIF_PW_A", "pw-a")
    monkeypatch.setenv("TEST_ONVIF_USER_B", "viewer")
    monkeypatch.delenv("TEST_ONVIF_UNSET", raising=False)

    configs = {d.name: d for d in registry_devices(registry, onvif_port=8000, rtsp_port=8554)}
    assert set(configs) == {"cam-a", "cam-b"}  # only loopback ONVIF endpoints are simulated
    a, b = configs["cam-a"], configs["cam-b"]
    assert (a.port, a.username, a.password) == (port_a, "admin", "pw-a")
    assert a.rtsp_main == "rtsp://127.0.0.1:8554/sim/vtest-720p/cam-a"
    assert a.rtsp_sub == "rtsp://127.0.0.1:8554/sim/vtest-360p/cam-a"
    assert (b.username, b.password) == ("viewer", DEFAULT_PASSWORD)
    assert (b.rtsp_main, b.rtsp_sub) == (
        "rtsp://127.0.0.1:9999/custom/main",
        "rtsp://127.0.0.1:9999/custom/sub",
    )

    with serve_registry_devices(registry, onvif_port=8000, rtsp_port=8554) as peer:
        assert sorted(d.port for d in peer.devices) == sorted([port_a, port_b])
        report = asyncio.run(probe_device("127.0.0.1", port_a, "admin", "pw-a"))
        assert report.profiles[0].stream_uri == a.rtsp_main
        with pytest.raises(OnvifAuthError):
            asyncio.run(probe_device("127.0.0.1", port_b, "viewer", "pw-a"))


def test_clock_is_readable_before_auth_and_other_operations_are_not(
    onvif_peer: OnvifPeer,
) -> None:
    port = onvif_peer.devices[0].port
    status, text = _soap(port, "<tds:GetSystemDateAndTime/>")
    assert status == 200 and "UTCDateTime" in text
    status, text = _soap(port, "<tds:GetDeviceInformation/>")
    assert status in (400, 401)
    assert "ter:NotAuthorized" in text and "Sender not authorized" in text


def test_only_onvif_is_served(onvif_peer: OnvifPeer) -> None:
    port = onvif_peer.devices[0].port
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
    assert info.value.code == 404


def test_probe_match_is_wrapped_and_parsable_by_wsdiscovery(onvif_peer: OnvifPeer) -> None:
    from wsdiscovery.message import parseSOAPMessage

    service = onvif_peer.devices[0].server.onvif
    xml = service.create_probe_match("urn:uuid:00000000-0000-0000-0000-000000000001")
    assert "<d:ProbeMatches><d:ProbeMatch>" in xml
    env = parseSOAPMessage(xml.encode(), "127.0.0.1")
    assert env is not None
    (match,) = env.getProbeResolveMatches()
    assert match.getXAddrs() == [onvif_peer.devices[0].xaddr]


def test_discovery_is_refused_outside_a_private_namespace() -> None:
    if all(name == "lo" for _, name in socket.if_nameindex()):
        pytest.skip("this host has only loopback: the guard has nothing to refuse")
    with pytest.raises(RuntimeError, match="unshare -n"):
        start_onvif_devices([device()], discovery=True)
