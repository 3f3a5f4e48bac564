"""A stream URI handed out by the ONVIF device actually plays: PyAV decodes a frame from it."""

from __future__ import annotations

import av
import pytest

from camera.onvif import fill_stream_urls
from sharpeye.simulate.onvif_peer import start_onvif_devices
from tests.camera.onvif.conftest import PASSWORD, RTSP_PATH_MAIN, RTSP_PATH_SUB, USER, device

pytestmark = pytest.mark.integration


def _decode_one_frame(url: str) -> tuple[int, int]:
    options = {"rtsp_transport": "tcp", "analyzeduration": "500000", "timeout": "5000000"}
    with av.open(url, options=options, timeout=5) as container:
        for frame in container.decode(video=0):
            return int(frame.width), int(frame.height)
    raise AssertionError(f"no frame decoded from {url}")


async def test_stream_uris_from_the_device_decode(rtsp_base: str) -> None:
    # The device points at the RTSP server the way the fleet's devices point at the fleet.
    cfg = device(rtsp_main=rtsp_base + RTSP_PATH_MAIN, rtsp_sub=rtsp_base + RTSP_PATH_SUB)
    with start_onvif_devices([cfg]) as peer:
        main, sub = await fill_stream_urls("127.0.0.1", peer.devices[0].port, USER, PASSWORD)
    assert main == rtsp_base + RTSP_PATH_MAIN and sub == rtsp_base + RTSP_PATH_SUB
    assert _decode_one_frame(main) == (320, 180)
    assert _decode_one_frame(sub) == (320, 180)
