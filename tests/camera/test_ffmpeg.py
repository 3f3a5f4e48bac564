"""What ingest's and the relay's FFmpeg pulls share (`camera.ffmpeg`): when a camera may fall
back to FFmpeg and what to say when it may not, the URL FFmpeg opens and the parameter sets
from its extradata."""

from __future__ import annotations

from camera.ffmpeg import can_fall_back, ffmpeg_url, parameter_sets, unreadable_hint
from camera.rtsp.errors import RtspAuthError, RtspTransportRefusedError
from camera.spec import StreamSpec


def test_ffmpeg_url_carries_encoded_credentials() -> None:
    spec = StreamSpec("c", "rtsp://10.0.0.7:554/live", username="op@x", password="p:w/d%")
    assert ffmpeg_url(spec) == "rtsp://op%40x:p%3Aw%2Fd%25@10.0.0.7:554/live"
    inline = StreamSpec("c", "rtsp://u:p@10.0.0.7/live")
    assert ffmpeg_url(inline) == "rtsp://u:p@10.0.0.7/live"
    assert "p:w" not in repr(spec)


def test_parameter_sets_from_annex_b_extradata() -> None:
    extradata = b"\x00\x00\x00\x01gB\xc0\x1e\x00\x00\x00\x01h\xce\x3c\x80"
    assert parameter_sets(extradata) == [b"gB\xc0\x1e", b"h\xce\x3c\x80"]
    assert parameter_sets(b"\x01\x42\xc0\x1e") == [] and parameter_sets(None) == []


def test_fallback_and_the_hint_when_there_is_none() -> None:
    refused = RtspTransportRefusedError("rtsp://10.0.0.7/live: 461 Unsupported Transport")
    auto = StreamSpec("c", "rtsp://10.0.0.7/live")
    assert can_fall_back(auto) and unreadable_hint(auto, refused) is not None
    native = StreamSpec("c", "rtsp://10.0.0.7/live", reader="native")
    assert not can_fall_back(native)
    assert "set `ingest: {reader: pyav}`" in (unreadable_hint(native, refused) or "")
    secure = StreamSpec("c", "rtsps://10.0.0.7/live")
    assert not can_fall_back(secure)
    assert "no FFmpeg fallback for rtsps://" in (unreadable_hint(secure, refused) or "")
    assert unreadable_hint(native, RtspAuthError("rtsp://10.0.0.7/live: 401")) is None
