"""The interleaved-RTP walker on crafted packets: splits, keyframes, garbage, keep-alives."""

import socket

from camera.rtsp.depacketize import AccessUnit, Assembler
from camera.rtsp.handshake import PlayingSession
from camera.rtsp.sdp import VideoTrack
from camera.rtsp.stream import Stream


def rtp(seq: int, ts: int, payload: bytes, marker: bool) -> bytes:
    header = bytes([0x80, (0x80 if marker else 0) | 96]) + seq.to_bytes(2, "big")
    header += ts.to_bytes(4, "big") + (1234).to_bytes(4, "big")
    body = header + payload
    return b"$\x00" + len(body).to_bytes(2, "big") + body


def gop(start_seq: int, ts: int, frames: int) -> list[bytes]:
    """An IDR (SPS, PPS, IDR split in two FU-A fragments) then P-frames of one packet each."""
    out = [
        rtp(start_seq, ts, b"\x67\x42\xc0\x1f", False),
        rtp(start_seq + 1, ts, b"\x68\xce\x3c\x80", False),
        rtp(start_seq + 2, ts, b"\x7c\x85" + b"\xaa" * 50, False),  # FU-A start, IDR
        rtp(start_seq + 3, ts, b"\x7c\x45" + b"\xbb" * 50, True),  # FU-A end
    ]
    for i in range(1, frames):
        out.append(rtp(start_seq + 3 + i, ts + 3600 * i, b"\x41" + b"\xcc" * 30, True))
    return out


def make_stream(assembler: Assembler | None = None) -> Stream:
    a, b = socket.socketpair()
    b.close()
    track = VideoTrack("h264", 96, 90000, "rtsp://x/", [])
    ps = PlayingSession(a, "rtsp://x/", track, "s1", 60.0, 0, b"", None, 4)
    return Stream(ps, assembler)


def test_counts_frames_and_keyframes_across_arbitrary_splits() -> None:
    data = b"".join(gop(0, 0, 50) + gop(53, 180000, 50))
    for step in (1, 7, 1000, len(data)):
        s = make_stream()
        for i in range(0, len(data), step):
            s.feed(data[i : i + step], 1.0)
        assert s.frames_total == 100
        assert s.keyframes_total == 2
        assert s.keyframe_interval_s == 2.0
        assert s.stream_errors == 0


def test_garbage_and_rtsp_answers_between_packets() -> None:
    answer = b"RTSP/1.0 200 OK\r\nCSeq: 5\r\nContent-Length: 4\r\n\r\nabcd"
    packets = gop(0, 0, 5)
    data = packets[0] + answer + b"\x00\x13garbage!" + b"".join(packets[1:])
    s = make_stream()
    s.feed(data, 1.0)
    assert s.frames_total == 5
    assert s.keyframes_total == 1
    assert s.stream_errors == 1  # the garbage, not the answer


def test_keyframe_assembler_emits_only_keyframes_as_annex_b() -> None:
    got: list[AccessUnit] = []
    s = make_stream(Assembler("h264", got.append, keyframes_only=True))
    s.feed(b"".join(gop(0, 0, 10) + gop(13, 90000, 10)), 1.0)
    assert [au.keyframe for au in got] == [True, True]
    nal_types = [b & 0x1F for b in got[0].data.split(b"\x00\x00\x00\x01")[1:] for b in b[:1]]
    assert nal_types == [7, 8, 5]
    assert got[0].data.endswith(b"\xbb" * 50)


def test_all_frames_assembler_and_sequence_gap_drops_the_broken_unit() -> None:
    got: list[AccessUnit] = []
    s = make_stream(Assembler("h264", got.append, keyframes_only=False))
    packets = gop(0, 0, 6)
    del packets[5]  # lose the second P-frame
    s.feed(b"".join(packets), 1.0)
    assert len(got) == 4  # IDR + 4 P-frames - the one after the gap
    assert s.assembler is not None and s.assembler.lost == 1
