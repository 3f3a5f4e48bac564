"""RTP for GB/T 28181 PS: reordering within the window, losses counted and the pictures
they touch dropped, pictures joined across packets (marker, or a new timestamp when a device
sets none), other senders refused; random datagrams never raise (hypothesis)."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from camera.gb28181.rtp_receiver import FrameAssembler, RtpReceiver, parse_rtp

SSRC = 100000001


def rtp(seq: int, ts: int, payload: bytes, marker: bool = False, ssrc: int = SSRC) -> bytes:
    return (
        struct.pack(">BBHII", 0x80, (0x80 if marker else 0) | 96, seq & 0xFFFF, ts, ssrc) + payload
    )


def picture(first_seq: int, ts: int, parts: int) -> list[bytes]:
    return [
        rtp(first_seq + k, ts, bytes([ts % 251, k]) * 10, marker=k == parts - 1)
        for k in range(parts)
    ]


def run(receiver: RtpReceiver, packets: list[bytes], now: float = 0.0) -> list[tuple[bytes, int]]:
    out: list[tuple[bytes, int]] = []
    for p in packets:
        out += receiver.push(p, now)
    return out


def test_pictures_joined_in_order() -> None:
    packets = picture(65534, 0, 3) + picture(1, 3600, 2)  # the sequence wraps
    frames = run(RtpReceiver(SSRC), packets)
    assert [ts for _, ts in frames] == [0, 3600]
    assert frames[0][0] == b"".join(parse_rtp(p).payload for p in packets[:3])  # type: ignore[union-attr]


def test_reordered_within_window_loses_nothing() -> None:
    packets = picture(10, 0, 4) + picture(14, 3600, 4)
    shuffled = [packets[i] for i in (0, 2, 1, 3, 5, 4, 7, 6)]
    receiver = RtpReceiver(SSRC)
    assert [ts for _, ts in run(receiver, shuffled)] == [0, 3600]
    assert receiver.reorder.lost == 0 and receiver.reorder.reordered == 3


def test_loss_drops_that_picture_only() -> None:
    packets = picture(10, 0, 3) + picture(13, 3600, 3) + picture(16, 7200, 3)
    receiver = RtpReceiver(SSRC, window=3)
    frames = run(receiver, packets[:4] + packets[5:])
    # The hole is given up once 3 packets wait behind it: the picture it cut is dropped.
    assert [ts for _, ts in frames] == [0, 7200]
    assert receiver.reorder.lost == 1 and receiver.frames.dropped == 1


def test_lost_marker_packet_drops_both_neighbours_it_may_belong_to() -> None:
    packets = picture(10, 0, 3) + picture(13, 3600, 3) + picture(16, 7200, 3)
    packets += picture(19, 10800, 3)
    receiver = RtpReceiver(SSRC, window=2)
    frames = run(receiver, packets[:5] + packets[6:])  # 15, 3600's marker, is lost
    # 16 may begin 7200 or end 3600: neither picture can be trusted whole.
    assert [ts for _, ts in frames] == [0, 10800]


def test_hole_given_up_after_the_delay() -> None:
    receiver = RtpReceiver(SSRC, max_delay_s=0.1)
    packets = picture(10, 0, 3) + picture(13, 3600, 2)
    assert run(receiver, [packets[0], packets[2], packets[3], packets[4]], now=5.0) == []
    assert receiver.tick(5.05) == []
    assert [ts for _, ts in receiver.tick(5.2)] == [3600]
    assert receiver.reorder.lost == 1


def test_no_marker_new_timestamp_ends_the_picture() -> None:
    packets = [rtp(1, 0, b"a"), rtp(2, 0, b"b"), rtp(3, 3600, b"c"), rtp(4, 7200, b"d")]
    assert run(RtpReceiver(SSRC), packets) == [(b"ab", 0), (b"c", 3600)]


def test_duplicates_and_foreign_packets() -> None:
    receiver = RtpReceiver(SSRC)
    packets = picture(1, 0, 2)
    frames = run(
        receiver, [packets[0], packets[0], rtp(2, 0, b"x", ssrc=7), b"\x00" * 5, packets[1]]
    )
    assert len(frames) == 1
    assert (receiver.reorder.late, receiver.foreign, receiver.malformed) == (1, 1, 1)


def test_sender_restart_is_followed() -> None:
    receiver = RtpReceiver(SSRC, window=4)
    before = picture(5000, 0, 2)
    after = [p for k in range(1, 6) for p in picture(100 + 2 * k, 3600 * k, 2)]
    frames = run(receiver, before + after)
    assert frames[0][1] == 0 and frames[-1][1] == 18000
    assert receiver.reorder.late == 5  # a window's worth, then the new numbering is taken


def test_padding_csrc_and_extension() -> None:
    header = bytes([0xB1, 0xE0]) + struct.pack(">HII", 7, 90, SSRC) + b"\x00\x00\x00\x09"
    extension = b"\xbe\xde\x00\x01" + b"\x01\x02\x03\x04"
    packet = parse_rtp(header + extension + b"PS" + b"\x00\x02")
    assert packet is not None and packet.payload == b"PS"
    assert packet.marker and packet.seq == 7
    assert parse_rtp(header + extension + b"\x00\x09") is None  # padding past the payload


def test_frame_size_bounded() -> None:
    frames = FrameAssembler(max_frame_bytes=15)
    packets = [parse_rtp(p) for p in picture(1, 0, 3)]
    out = [f for p in packets if p is not None for f in frames.push(p, False)]
    assert out == [] and frames.dropped == 1


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=60))
def test_fuzz_datagrams_never_raise(datagrams: list[bytes]) -> None:
    receiver = RtpReceiver(None, window=8)
    for d in datagrams:
        receiver.push(b"\x80\x60" + d)
        receiver.push(d)
    receiver.tick(1e12)


@settings(max_examples=200, deadline=None)
@given(st.permutations(list(range(1, 24))), st.sets(st.integers(1, 22), max_size=4))
def test_fuzz_order_and_loss(order: list[int], lost: set[int]) -> None:
    # The first packet sets the sequence (nothing before it can be known lost) and the last
    # closes the last picture; in between, any order and up to 4 lost.
    packets = [p for k in range(6) for p in picture(65530 + 4 * k, 3600 * k, 4)]
    receiver = RtpReceiver(SSRC, window=64)
    sent = [0, *(i for i in order if i not in lost and i != 23), 23]
    frames = run(receiver, [packets[i] for i in sent], now=1.0)
    frames += receiver.tick(10.0)
    # A loss costs its picture; a loss at a picture's edge may cost the neighbour too.
    hit = {i // 4 for i in lost} | {(i + 1) // 4 for i in lost if i % 4 == 3}
    assert {ts // 3600 for _, ts in frames} == set(range(6)) - hit
    assert receiver.reorder.lost == len(lost) and receiver.reorder.late == 0
