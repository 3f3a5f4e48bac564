"""RTP packetization once per frame, shared by every viewer of a camera.

aiortc gives each sender its own H.264 "encoder", whose `pack()` splits the access unit
into NAL units and RTP payloads again for every viewer. The payloads depend only on the
frame, so the relay installs `SharedPacker` instead (aiortc 1.16 keeps it in a private
attribute; `install` checks it is there) and keeps one list per frame. The track hands the
same `av.Packet` to every viewer, its `opaque` carrying the payloads and timestamp.

The `opaque` must never reach back to the frame: PyAV keeps every packet's opaque object in
one process-wide dict (`av.opaque`) until the packet is freed, and the packet lives in the
frame's `shared` dict, so frame -> packet -> that dict -> frame is a cycle through C that the
garbage collector cannot see. It kept every frame any viewer was sent (its bytes, its
payloads, the packet's copy) for the life of the process: about three times the cameras'
bitrate, for ever (issue 11).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, NamedTuple

import av
from aiortc import RTCRtpSender
from aiortc.codecs.h264 import H264Encoder

from relay.gop import EncodedFrame

TIME_BASE = Fraction(1, 90000)  # aiortc's video clock: no conversion needed
_ATTR = "_RTCRtpSender__encoder"


class Packed(NamedTuple):
    """What a sender needs of a frame, carried by its av.Packet (no reference to the frame)."""

    payloads: list[bytes]
    pts: int


def payloads(frame: EncodedFrame) -> list[bytes]:
    cached = frame.shared.get("payloads")
    if cached is None:
        cached = frame.shared["payloads"] = H264Encoder._packetize(
            H264Encoder._split_bitstream(frame.data)
        )
    result: list[bytes] = cached
    return result


def packet(frame: EncodedFrame) -> av.Packet[Any]:
    """The frame as an av.Packet, made once and shared (aiortc only reads it)."""
    cached = frame.shared.get("packet")
    if cached is None:
        cached = av.Packet(frame.data)
        cached.pts = cached.dts = frame.pts
        cached.time_base = TIME_BASE
        cached.is_keyframe = frame.keyframe
        cached.opaque = Packed(payloads(frame), frame.pts)
        frame.shared["packet"] = cached
    result: av.Packet[Any] = cached
    return result


class SharedPacker:
    """Stands in for aiortc's H264Encoder on a passthrough sender (pack only)."""

    def pack(self, pkt: av.Packet[Any]) -> tuple[list[bytes], int]:
        packed = pkt.opaque
        if isinstance(packed, Packed):
            return packed.payloads, packed.pts
        return H264Encoder().pack(pkt)

    def encode(self, frame: object, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        raise TypeError("the relay never encodes: its tracks carry encoded H.264 only")


def install(sender: RTCRtpSender) -> None:
    if not hasattr(sender, _ATTR):
        raise RuntimeError("aiortc's RTCRtpSender changed: relay.packer needs updating")
    setattr(sender, _ATTR, SharedPacker())
