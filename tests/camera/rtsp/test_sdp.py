import pytest

from camera.rtsp.errors import RtspProtocolError, RtspUnsupportedCodecError
from camera.rtsp.sdp import parse_video_track

GST_SDP = """v=0
o=- 1188340656180883 1 IN IP4 127.0.0.1
s=Session streamed with GStreamer
t=0 0
a=tool:GStreamer
a=type:broadcast
a=control:*
m=video 0 RTP/AVP 96
c=IN IP4 0.0.0.0
a=rtpmap:96 H264/90000
a=framerate:25
a=fmtp:96 packetization-mode=1;profile-level-id=42c01f;{sprop}
a=control:stream=0
""".format(sprop="sprop-parameter-sets=Z0LAH9oBQBbsBEAAAAMAQAAADIPGDKg=,aM48gA==")


def test_gstreamer_sdp_gives_h264_track_with_parameter_sets() -> None:
    t = parse_video_track(GST_SDP, "rtsp://127.0.0.1:8554/sim/vtest-720p/cam1/")
    assert t.codec == "h264"
    assert t.payload_type == 96
    assert t.clock_rate == 90000
    assert t.control_url == "rtsp://127.0.0.1:8554/sim/vtest-720p/cam1/stream=0"
    assert [p[0] & 0x1F for p in t.parameter_sets] == [7, 8]
    assert t.framerate == 25.0


def test_absolute_control_and_hevc() -> None:
    sdp = (
        "v=0\r\nm=audio 0 RTP/AVP 0\r\na=control:trackID=0\r\n"
        "m=video 0 RTP/AVP 98\r\na=rtpmap:98 H265/90000\r\n"
        "a=control:rtsp://cam/live/trackID=1\r\n"
    )
    t = parse_video_track(sdp, "rtsp://cam/live")
    assert t.codec == "hevc"
    assert t.control_url == "rtsp://cam/live/trackID=1"


@pytest.mark.parametrize(
    ("sdp", "exception", "match"),
    [
        ("v=0\nm=video 0 RTP/AVP 26\na=rtpmap:26 JPEG/90000\n", RtspUnsupportedCodecError, "JPEG"),
        ("v=0\nm=audio 0 RTP/AVP 0\n", RtspProtocolError, "no video track"),
    ],
)
def test_unusable_sdp_is_a_clear_error(sdp: str, exception: type[Exception], match: str) -> None:
    with pytest.raises(exception, match=match):
        parse_video_track(sdp, "rtsp://cam/x")
