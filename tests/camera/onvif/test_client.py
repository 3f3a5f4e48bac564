"""probe_device / fill_stream_urls against real simulated devices (ipycam SOAP services)."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from camera.onvif import (
    OnvifAuthError,
    OnvifError,
    OnvifProfileError,
    OnvifUnreachable,
    fill_stream_urls,
    probe_device,
)
from sharpeye.simulate.onvif_peer import OnvifPeer, start_onvif_devices
from tests.camera.onvif.conftest import PASSWORD, RTSP_PATH_MAIN, RTSP_PATH_SUB, USER, device

pytestmark = pytest.mark.integration
HOST = "127.0.0.1"


async def test_probe_reports_identity_profiles_and_stream_uris(onvif_peer: OnvifPeer) -> None:
    port = onvif_peer.devices[0].port
    report = await probe_device(HOST, port, USER, PASSWORD)
    assert (report.manufacturer, report.model, report.serial) == (
        "Sharpeye Sim",
        "SimCam-1",
        "SIM-TEST-1",
    )
    assert report.firmware
    by_token = {p.token: p for p in report.profiles}
    assert set(by_token) == {"Profile_Main", "Profile_Sub"}
    main, sub = by_token["Profile_Main"], by_token["Profile_Sub"]
    assert (main.encoding, main.width, main.height, main.fps) == ("H264", 1280, 720, 25.0)
    assert (sub.encoding, sub.width, sub.height) == ("H264", 640, 360)
    assert main.stream_uri == f"rtsp://127.0.0.1:8554{RTSP_PATH_MAIN}"
    assert sub.stream_uri == f"rtsp://127.0.0.1:8554{RTSP_PATH_SUB}"


async def test_wrong_password_is_a_clear_auth_error_without_the_password(
    onvif_peer: OnvifPeer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    port = onvif_peer.devices[0].port
    wrong = PASSWORD + "-typo"
    with pytest.raises(OnvifAuthError) as info:
        await probe_device(HOST, port, USER, wrong)
    message = str(info.value)
    assert message == (
        f"ONVIF device 127.0.0.1:{port} refused the credentials for user '{USER}' "
        "(Sender not authorized): check the camera's credentials reference"
    )
    assert (info.value.host, info.value.port) == (HOST, port)
    # Neither the message, the chained causes, nor any log line may carry a password.
    assert info.value.__cause__ is None
    for text in (message, repr(info.value), caplog.text):
        assert PASSWORD not in text
        assert wrong not in text


async def test_missing_credentials_say_so(onvif_peer: OnvifPeer) -> None:
    with pytest.raises(OnvifAuthError, match="without credentials"):
        await probe_device(HOST, onvif_peer.devices[0].port, "", "")


async def test_closed_port_is_unreachable(closed_port: int) -> None:
    with pytest.raises(OnvifUnreachable) as info:
        await probe_device(HOST, closed_port, USER, PASSWORD, timeout=2)
    assert f"127.0.0.1:{closed_port} is unreachable (connection refused)" in str(info.value)
    assert "check the host, the port" in str(info.value)
    assert PASSWORD not in str(info.value)


async def test_silent_device_times_out_as_unreachable(silent_port: int) -> None:
    with pytest.raises(OnvifUnreachable, match=r"did not answer within 0\.5 s"):
        await probe_device(HOST, silent_port, USER, PASSWORD, timeout=0.5)


async def test_fill_stream_urls_picks_largest_as_main_and_smallest_as_sub(
    onvif_peer: OnvifPeer,
) -> None:
    port = onvif_peer.devices[0].port
    main, sub = await fill_stream_urls(HOST, port, USER, PASSWORD, None)
    assert main.endswith(RTSP_PATH_MAIN)
    assert sub is not None and sub.endswith(RTSP_PATH_SUB)


async def test_fill_stream_urls_honours_a_named_profile(onvif_peer: OnvifPeer) -> None:
    port = onvif_peer.devices[0].port
    main, sub = await fill_stream_urls(HOST, port, USER, PASSWORD, "Profile_Sub")
    # Nothing smaller than the sub profile exists, so there is no separate sub stream.
    assert main.endswith(RTSP_PATH_SUB) and sub is None
    with pytest.raises(OnvifProfileError, match=r"no media profile 'Nope'.*Profile_Main"):
        await fill_stream_urls(HOST, port, USER, PASSWORD, "Nope")


async def test_single_profile_device_has_no_sub_stream() -> None:
    with start_onvif_devices([device(rtsp_sub=None)]) as peer:
        report = await probe_device(HOST, peer.devices[0].port, USER, PASSWORD)
        main, sub = await fill_stream_urls(HOST, peer.devices[0].port, USER, PASSWORD)
    assert [p.token for p in report.profiles] == ["Profile_Main"]
    assert main.endswith(RTSP_PATH_MAIN) and sub is None


async def test_credentials_embedded_by_the_device_are_stripped() -> None:
    leaky = device(
        rtsp_main=f"rtsp://admin:{PASSWORD}@127.0.0.1:8554{RTSP_PATH_MAIN}",
        rtsp_sub=f"rtsp://127.0.0.1:8554{RTSP_PATH_SUB}?user=admin&password={PASSWORD}&ch=2",
    )
    with start_onvif_devices([leaky]) as peer:
        main, sub = await fill_stream_urls(HOST, peer.devices[0].port, USER, PASSWORD)
    assert main == f"rtsp://127.0.0.1:8554{RTSP_PATH_MAIN}"
    assert sub == f"rtsp://127.0.0.1:8554{RTSP_PATH_SUB}?ch=2"


async def test_client_uses_the_given_address_not_the_advertised_xaddrs() -> None:
    # The device advertises XAddrs on a host nothing listens on (as a camera behind NAT does);
    # the client must keep talking to the host:port it was given.
    with start_onvif_devices([device()]) as peer:
        peer.devices[0].server.onvif.config.local_ip = "127.0.0.9"
        report = await probe_device(HOST, peer.devices[0].port, USER, PASSWORD)
    assert len(report.profiles) == 2


async def test_errors_share_one_base_class(closed_port: int) -> None:
    with pytest.raises(OnvifError):
        await probe_device(HOST, closed_port, USER, PASSWORD, timeout=1)


def test_importing_the_client_leaves_root_logging_alone() -> None:
    # onvif-zeep-async calls logging.basicConfig() at import; the client must undo that.
    code = "import logging, camera.onvif.client as c; r = logging.getLogger(); "
    code += "print(len(r.handlers), r.level)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", str(logging.WARNING)]
