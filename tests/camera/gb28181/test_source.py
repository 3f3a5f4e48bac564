"""`GbSource` on its own, with a signalling stand-in that starts the test sender toward the
port the source offers: real footage over UDP with lost, reordered, duplicated and garbage
datagrams, and a truncated pack: the counters move, pictures keep coming after, and the
reader never raises for what the stream holds; a device's BYE ends the stream."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from pathlib import Path

import pytest

from camera.gb28181.invite import MediaAnswer, MediaOffer, PlayHandle
from camera.gb28181.source import GbSource, GbStreamError
from camera.rtsp.depacketize import AccessUnit
from tests.camera.gb28181.ps_sender import footage_packets, with_faults

CLIP = Path("var/footage/vtest-360p.mkv")
SSRC = 12345


class Stand:
    """PlaySignalling that 'answers' at once and streams `packets` to the offered port."""

    def __init__(self, packets: list[bytes]) -> None:
        self.packets = packets
        self.stopped: list[PlayHandle] = []
        self.thread: threading.Thread | None = None

    def start(
        self, device_id: str, channel_id: str, offer: MediaOffer, timeout_s: float
    ) -> PlayHandle:
        answer = MediaAnswer("127.0.0.1", 9, "udp", 96, SSRC, None)
        handle = PlayHandle("call-1", device_id, channel_id, answer)
        self.thread = threading.Thread(target=self._send, args=(offer.port,), daemon=True)
        self.thread.start()
        return handle

    def _send(self, port: int) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for k, p in enumerate(self.packets):
                sock.sendto(p, ("127.0.0.1", port))
                if k % 20 == 0:
                    threading.Event().wait(0.002)  # paced: no socket buffer overrun

    def stop(self, handle: PlayHandle) -> None:
        self.stopped.append(handle)
        handle.ended.set()


def collect(source: GbSource, want: int, limit_s: float = 15.0) -> list[AccessUnit]:
    units: list[AccessUnit] = []
    source.open()
    deadline = threading.Event()
    timer = threading.Timer(limit_s, deadline.set)
    timer.start()
    try:
        for au in source.units(deadline.is_set):
            if au is not None:
                units.append(au)
            if len(units) >= want:
                break
    finally:
        timer.cancel()
        source.close()
    return units


@pytest.fixture(scope="module")
def packets() -> list[bytes]:
    if not CLIP.exists():
        pytest.skip("footage not prepared (sharpeye footage prepare)")
    return footage_packets(CLIP, 300, SSRC)[0]


def test_faults_are_counted_and_pictures_keep_coming(packets: list[bytes]) -> None:
    faulty = list(with_faults(packets))
    # A truncated pack: one whole picture (RTP intact) whose PS is cut in half.
    victim = next(i for i in range(600, 700) if faulty[i][1] & 0x80 and faulty[i + 1][1] & 0x80)
    last = faulty[victim + 1]
    faulty[victim + 1] = last[: 12 + (len(last) - 12) // 2]
    stand = Stand(faulty)
    source = GbSource("34020000001320000001", "34020000001310000001", stand)
    units = collect(source, 250, limit_s=10.0)
    assert source.receiver is not None
    r, d = source.receiver, source.demuxer
    assert r.reorder.lost > 0 and r.reorder.reordered > 0 and r.reorder.late > 0
    assert r.malformed + r.foreign > 0 and r.frames.dropped > 0
    assert d.broken >= 1  # the truncated pack
    assert source.stream_errors >= r.frames.dropped + d.broken
    assert 200 <= len(units) < 300 and units[-1].rtp_timestamp > 250 * 3600
    assert any(u.keyframe for u in units[100:])  # pictures, keyframes too, after the faults
    assert stand.stopped  # close() asked for the BYE


def test_device_bye_ends_the_stream(packets: list[bytes]) -> None:
    stand = Stand(packets[:200])
    source = GbSource("d", "c", stand)
    source.open()
    assert source.handle is not None
    seen = 0
    with pytest.raises(GbStreamError, match="the device ended the stream"):
        for au in source.units(lambda: False):
            seen += au is not None
            if seen == 5:
                source.handle.reason = "the device ended the stream (BYE)"
                source.handle.ended.set()
    source.close()
    assert stand.stopped == []  # no BYE back to a device that hung up


def test_silence_is_a_stall() -> None:
    source = GbSource("d", "c", Stand([]), read_timeout_s=0.6)
    source.open()
    with pytest.raises(GbStreamError, match="no video for"):
        for _ in source.units(lambda: False):
            pass
    source.close()


def test_tcp_framing_and_refused_stranger() -> None:
    class TcpStand(Stand):
        def start(
            self, device_id: str, channel_id: str, offer: MediaOffer, timeout_s: float
        ) -> PlayHandle:
            answer = MediaAnswer("127.0.0.1", 9, "tcp", 96, SSRC, "active")
            handle = PlayHandle("call-2", device_id, channel_id, answer)

            def send() -> None:
                # The source closes its end once the test has its units: a device's send
                # then fails, which is not the test's failure.
                with (
                    contextlib.suppress(BrokenPipeError, ConnectionResetError),
                    socket.create_connection(("127.0.0.1", offer.port)) as sock,
                ):
                    for p in self.packets:
                        sock.sendall(struct.pack(">H", len(p)) + p)

            threading.Thread(target=send, daemon=True).start()
            return handle

    stand = TcpStand(
        footage_packets(CLIP, 60, SSRC)[0] if CLIP.exists() else pytest.skip("no footage")
    )
    source = GbSource("d", "c", stand, transport="tcp")
    units = collect(source, 50)
    assert source.receiver is not None
    counts = (len(units), source.stream_errors, source.receiver.errors, source.demuxer.broken)
    assert counts == (50, 0, 0, 0)
