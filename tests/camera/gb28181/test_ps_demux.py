"""The PS demuxer on real footage packed as GB/T 28181 devices pack it (by the test sender,
which shares no code with it): every picture comes back byte for byte with its keyframe flag
and PTS, decodes with PyAV and remuxes into an fMP4 that plays; broken packs, garbage and a
missing PSM are skipped and counted, and nothing a peer sends raises (hypothesis)."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from camera.fmp4 import Fmp4Writer
from camera.gb28181.ps_demux import PsDemuxer, is_keyframe
from camera.rtsp.depacketize import AccessUnit
from tests.camera.gb28181.ps_sender import footage_units, ps_picture

CLIP = Path("var/footage/vtest-360p.mkv")


@pytest.fixture(scope="module")
def units() -> list[tuple[bytes, bool, int]]:
    if not CLIP.exists():
        pytest.skip("footage not prepared (sharpeye footage prepare)")
    return footage_units(CLIP, 120)


def demux_all(demuxer: PsDemuxer, pictures: list[bytes]) -> list[AccessUnit]:
    out: list[AccessUnit] = []
    for ps in pictures:
        out += demuxer.feed(ps)
    return out


def test_footage_round_trip_decodes_and_plays(
    units: list[tuple[bytes, bool, int]], tmp_path: Path
) -> None:
    demuxer = PsDemuxer()
    aus = demux_all(demuxer, [ps_picture(d, k, pts) for d, k, pts in units])
    assert demuxer.codec == "h264" and demuxer.broken == 0
    assert [(a.data, a.keyframe, a.rtp_timestamp) for a in aus] == units

    ctx = av.CodecContext.create("h264", "r")
    frames = [f for a in aus for f in ctx.decode(av.Packet(a.data))]
    assert len(frames) >= len(aus) - 2  # the decoder may hold the last one or two
    assert (frames[0].width, frames[0].height) == (640, 360)

    path = tmp_path / "gb.mp4"
    writer = Fmp4Writer(path, "h264")
    for au in aus:
        writer.write(au)
    writer.close()
    with av.open(str(path)) as played:
        decoded = sum(1 for _ in played.decode(video=0))
    assert decoded == len(aus)


def test_large_picture_split_over_pes_packets(units: list[tuple[bytes, bool, int]]) -> None:
    big = units[0][0] + b"\x00\x00\x01\x0c" + b"\xff" * 200_000  # filler NAL: 4 PES packets
    (au,) = PsDemuxer().feed(ps_picture(big, True, 90_000))
    assert au.data == big and au.keyframe and au.rtp_timestamp == 90_000


def test_waits_for_a_psm(units: list[tuple[bytes, bool, int]]) -> None:
    demuxer = PsDemuxer()
    p_frame, _, pts = units[1]
    assert demuxer.feed(ps_picture(p_frame, False, pts)) == []
    assert demuxer.unsupported == 1 and demuxer.codec is None
    first = demuxer.feed(ps_picture(*units[0]))
    assert len(first) == 1 and first[0].keyframe


def test_unsupported_stream_type_is_named(units: list[tuple[bytes, bool, int]]) -> None:
    demuxer = PsDemuxer()
    assert demuxer.feed(ps_picture(units[0][0], True, 0, stream_type=0x80)) == []  # SVAC
    assert demuxer.unsupported_type == 0x80 and demuxer.unsupported == 1


def test_h265_stream_type_and_irap() -> None:
    vps_idr = b"\x00\x00\x00\x01\x40\x01\x0c" + b"\x00\x00\x00\x01\x26\x01\xaf\x00"
    trail = b"\x00\x00\x00\x01\x02\x01\xd0\x00"
    demuxer = PsDemuxer()
    aus = demuxer.feed(ps_picture(vps_idr, True, 0, stream_type=0x24))
    aus += demuxer.feed(ps_picture(trail, False, 3600))
    assert demuxer.codec == "hevc"
    assert [a.keyframe for a in aus] == [True, False]
    assert is_keyframe(vps_idr, hevc=True) and not is_keyframe(trail, hevc=True)


def test_broken_input_is_counted_and_frames_keep_coming(
    units: list[tuple[bytes, bool, int]],
) -> None:
    demuxer = PsDemuxer()
    pictures = [ps_picture(d, k, pts) for d, k, pts in units[:20]]
    assert len(demux_all(demuxer, pictures[:5])) == 5
    truncated = pictures[5][: len(pictures[5]) // 2]
    assert demuxer.feed(truncated) == []
    assert demuxer.broken == 1
    garbage = b"\x17\x00\x00\x01\x99junk\x00\x00\x01\xba\x00" + bytes(range(256))
    demuxer.feed(garbage)
    assert demuxer.broken >= 2
    bad_pes = bytearray(pictures[6])
    bad_pes[14 + 6] = 0x00  # the PES header's '10' marker bits
    demuxer.feed(bytes(bad_pes))
    broken = demuxer.broken
    # Garbage in front of a good pack: skipped up to its start code, the picture kept.
    (au,) = demuxer.feed(b"\xde\xad\xbe\xef" + pictures[7])
    assert au.data == units[7][0] and demuxer.broken == broken + 1
    assert len(demux_all(demuxer, pictures[8:])) == 12


def test_oversized_unit_is_dropped(units: list[tuple[bytes, bool, int]]) -> None:
    demuxer = PsDemuxer(max_unit_bytes=1000)
    big = units[0][0] + b"\x00\x00\x01\x0c" + b"\xff" * 5000
    assert demuxer.feed(ps_picture(big, True, 0)) == []
    assert demuxer.oversized == 1
    assert len(demuxer.feed(ps_picture(b"\x00\x00\x00\x01\x41\x9a", False, 3600))) == 1


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_fuzz_random_bytes_never_raise(data: bytes) -> None:
    demuxer = PsDemuxer(max_unit_bytes=8192)
    for au in demuxer.feed(data):
        assert len(au.data) <= 8192


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**33 - 1),
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=6),
    st.integers(0, 2500),
)
def test_fuzz_mutated_pictures_never_raise(
    pts: int, flips: list[tuple[int, int]], cut: int
) -> None:
    idr = b"\x00\x00\x00\x01\x67\x42\x00\x1e" + b"\x00\x00\x00\x01\x65\x88" + b"\x11" * 1500
    ps = bytearray(ps_picture(idr, True, pts))
    for at, value in flips:
        if at < len(ps):
            ps[at] = value
    demuxer = PsDemuxer()
    for au in demuxer.feed(bytes(ps[: len(ps) - cut])):
        assert au.rtp_timestamp < 2**32
    # Whatever came before, a good picture after it is read.
    (au,) = demuxer.feed(ps_picture(idr, True, 1234))
    assert au.data == idr and au.rtp_timestamp == 1234
