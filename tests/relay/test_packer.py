"""Shared packetization: the same RTP payloads as aiortc's own packer, computed once."""

from __future__ import annotations

import gc

import pytest
from aiortc import RTCPeerConnection
from aiortc.codecs.h264 import H264Encoder

from relay.gop import EncodedFrame
from relay.packer import SharedPacker, install, packet, payloads

# SPS, PPS and a 3,000-byte IDR slice: the slice needs FU-A fragments, the rest a STAP-A.
AU = (
    b"\x00\x00\x00\x01\x67\x42\xe0\x1f\xda"
    + b"\x00\x00\x00\x01\x68\xce\x3c\x80"
    + b"\x00\x00\x00\x01\x65"
    + bytes(range(256)) * 12
)


def test_payloads_match_aiortc_and_are_made_once() -> None:
    frame = EncodedFrame(AU, True, 123_456, 0.0, 99)
    reference, ts = H264Encoder().pack(packet(frame))
    assert ts == 123_456
    assert payloads(frame) == reference and len(reference) > 2
    assert payloads(frame) is payloads(frame)
    assert packet(frame) is packet(frame)  # one av.Packet for every viewer
    assert SharedPacker().pack(packet(frame)) == (reference, 123_456)


async def test_installs_on_an_aiortc_sender() -> None:
    pc = RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver("video", direction="sendonly")
        install(transceiver.sender)
        assert isinstance(transceiver.sender._RTCRtpSender__encoder, SharedPacker)  # type: ignore[attr-defined]
        with pytest.raises(TypeError):
            SharedPacker().encode(object())
    finally:
        await pc.close()


def test_a_sent_frame_is_freed_with_its_packet() -> None:
    """The packet's opaque must not reach back to the frame: PyAV holds opaques in a global
    dict until the packet dies, so a frame -> packet -> frame cycle was never collected
    (issue 11: the relay kept every frame it ever sent)."""

    def live(marker: bytes) -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if type(o) is EncodedFrame and o.data == marker)

    marker = AU + b"issue-11"
    for i in range(50):
        frame = EncodedFrame(marker, True, i, 0.0, i)
        assert SharedPacker().pack(packet(frame))[1] == i
    del frame
    assert live(marker) == 0
