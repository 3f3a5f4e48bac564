"""The batched UDP read (`datagrams`) and the batched RTP path (`RtpReceiver.push_many`): the
same datagrams, pictures and counts as one `recv` and one `push` per packet."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camera.gb28181.datagrams import SLOT, DatagramReader
from camera.gb28181.rtp_receiver import RtpReceiver

SSRC = 100000001


def rtp(seq: int, ts: int, payload: bytes, marker: bool = False, b0: int = 0x80) -> bytes:
    header = struct.pack(">BBHII", b0, (0x80 if marker else 0) | 96, seq & 0xFFFF, ts, SSRC)
    return header + payload


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.connect(rx.getsockname())
    yield rx, tx
    rx.close()
    tx.close()


@pytest.mark.parametrize("use_recvmmsg", [True, False])
def test_every_datagram_whole_and_in_order(
    pair: tuple[socket.socket, socket.socket], use_recvmmsg: bool
) -> None:
    rx, tx = pair
    reader = DatagramReader(batch=8, use_recvmmsg=use_recvmmsg)
    assert reader.read(rx) == []  # nothing waiting: no wait either
    sent = [bytes([k]) * (1 + 97 * k) for k in range(11)] + [b"x" * 65000]  # the largest fit
    for d in sent:
        tx.send(d)
    got: list[bytes] = []
    while spans := reader.read(rx):
        assert len(spans) <= 8 and all(start % SLOT == 0 for start, _ in spans)
        got += [bytes(reader.view[start:end]) for start, end in spans]
    assert got == sent


def picture(seq: int, ts: int, parts: int) -> list[bytes]:
    return [rtp(seq + k, ts, bytes([ts % 251, k]) * 30, k == parts - 1) for k in range(parts)]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 29), max_size=40),
    st.integers(1, 8),
    st.sampled_from([0x80, 0x90]),
)
def test_push_many_is_push_per_packet(order: list[int], batch: int, b0: int) -> None:
    # Any mix of in order, reordered, duplicated, lost and foreign packets, in batches.
    packets = [p for k in range(6) for p in picture(65520 + 5 * k, 3600 * k, 5)]
    packets[7] = rtp(27, 3600, b"?", b0=b0)  # an extension bit: the general path
    sent = [packets[i] if i < 29 else b"\x80\x61junk" for i in order]
    one, many = RtpReceiver(SSRC, window=4), RtpReceiver(SSRC, window=4)
    expected = [f for p in sent for f in one.push(p, 1.0)]
    got: list[tuple[bytes, int]] = []
    for at in range(0, len(sent), batch):
        chunk = sent[at : at + batch]
        buf = bytearray(b"".join(chunk))
        spans, start = [], 0
        for p in chunk:
            spans.append((start, start + len(p)))
            start += len(p)
        got += many.push_many(memoryview(buf), spans, 1.0)
        buf[:] = bytes(len(buf))  # the buffer is reused: nothing may still point into it
    assert got == expected
    assert many.tick(9.0) == one.tick(9.0)
    r1, r2 = one.reorder, many.reorder
    assert (r2.lost, r2.late, r2.reordered) == (r1.lost, r1.late, r1.reordered)
    assert (many.packets, many.foreign, many.malformed, many.errors) == (
        one.packets,
        one.foreign,
        one.malformed,
        one.errors,
    )
