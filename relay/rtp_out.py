"""A viewer's RTP send loop: the bytes aiortc would send, without its per-packet overhead.

Profiled at 25 viewers of one 720p25 camera (py-spy, `benchmarks/relay.py` load), aiortc's
`RTCRtpSender._run_rtp` spent about 40 % of the relay's CPU in Python around each packet, more
than SRTP and `sendto` together: five coroutine frames per packet down to aioice's `sendto`,
an `RtpPacket` with its header extensions rebuilt and serialised field by field, and two
`datetime` reads of the NTP clock. Every viewer pays that on every packet (≈ 225 packets/s
at 2 Mb/s), so it set the relay's cost per viewer.

`install` gives a relay sender a loop that sends the same packets: the header and extensions
(mid, abs-send-time) laid out once per sender by aiortc's own serializer, only the fields
that change written per packet, SRTP then the socket's `sendto` called directly. What aiortc
keeps for the rest of the sender is kept: the history for NACK retransmissions (as tuples;
the `RtpPacket` is built only if one is asked for), the counts and timestamps its RTCP sender
reports and `getStats` read, and the events `RTCRtpSender.stop()` waits on.

aiortc 1.16 keeps all of this in private attributes; `install` checks they are there, so an
upgrade that moves them fails the first viewer loudly instead of sending garbage. That check
only sees names, so aiortc is pinned (pyproject.toml) and an upgrade must re-verify, against
the new `RTCRtpSender`, what the names do not say:
- the packet bytes: `tests/relay/test_rtp_out.py` compares ours with aiortc's own serializer
  (header, mid and abs-send-time extensions, SRTP);
- what RTCP and `getStats` read: the octet and packet counts and the RTP/NTP timestamps of
  the last packet sent (sender reports), which `_run_rtp` may start keeping elsewhere;
- NACK: `_retransmit` still finds packets in the history, RTX wrapping included;
- `stop()`: the events and task it waits on, so a closed viewer's sender ends;
- then `benchmarks/relay.py` beside Janus, as the figures in RESULTS.md were taken.
"""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Any

from aioice.ice import StunProtocol
from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcdtlstransport import RTCDtlsTransport, State
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import RTP_HISTORY_SIZE, RtpPacket, wrap_rtx
from aiortc.utils import random32, uint16_add

from relay.counters import RelayCounters
from relay.packer import SharedPacker

_S = "_RTCRtpSender__"
_T = "_RTCDtlsTransport__"
_SENDER_ATTRS = (
    "rtp_started",
    "rtp_exited",
    "rtp_history",
    "rtp_header_extensions_map",
    "mid",
    "track",
    "encoder",
    "ntp_timestamp",
    "rtp_timestamp",
    "octet_count",
    "packet_count",
    "rtx_payload_type",
    "rtx_sequence_number",
)
# Seconds from the NTP epoch (1900) to the Unix epoch (1970).
NTP_UNIX_OFFSET = 2_208_988_800
_HEADER = struct.Struct("!BBHLL")


def ntp_time(now: float) -> int:
    """`now` (Unix seconds) as a 64-bit NTP timestamp, as aiortc's clock gives it."""
    seconds = now + NTP_UNIX_OFFSET
    whole = int(seconds)
    return (whole << 32) | int((seconds - whole) * 4294967296.0)


def abs_send_time(now: float) -> int:
    """The abs-send-time extension's 6.18 fixed-point seconds (aiortc: NTP >> 14, 24 bits)."""
    return int((now + NTP_UNIX_OFFSET) * 262144.0) & 0xFFFFFF


class Layout:
    """What a sender's packets share: first header byte, extension bytes around abs-send-time.

    Taken from two packets serialised by aiortc (abs-send-time all zeros, then all ones), so
    the order and format of the extensions are aiortc's whatever the negotiated ids are.
    """

    def __init__(self, extensions_map: Any, mid: str | None) -> None:
        lo = self._probe(extensions_map, mid, 0)
        hi = self._probe(extensions_map, mid, 0xFFFFFF)
        self.first_byte = lo[0]
        lo_ext, hi_ext = lo[12:], hi[12:]
        if lo_ext == hi_ext:  # abs-send-time not negotiated: the extensions never change
            self.before, self.after, self.has_abs = lo_ext, b"", False
            return
        at = next(i for i, (a, b) in enumerate(zip(lo_ext, hi_ext, strict=True)) if a != b)
        if lo_ext[at : at + 3] != b"\0\0\0" or hi_ext[at : at + 3] != b"\xff\xff\xff":
            raise RuntimeError("unexpected abs-send-time layout: relay.rtp_out needs updating")
        self.before, self.after, self.has_abs = lo_ext[:at], lo_ext[at + 3 :], True

    @staticmethod
    def _probe(extensions_map: Any, mid: str | None, abs_time: int) -> bytes:
        probe = RtpPacket(payload_type=0, sequence_number=0, timestamp=0, ssrc=0)
        probe.extensions.abs_send_time = abs_time
        probe.extensions.mid = mid
        data: bytes = probe.serialize(extensions_map)
        return data

    def packet(self, second_byte: int, seq: int, ts: int, ssrc: int, abs_t: int) -> bytes:
        """Header and extensions of one packet (the payload follows)."""
        head = _HEADER.pack(self.first_byte, second_byte, seq, ts, ssrc)
        if self.has_abs:
            return b"".join((head, self.before, abs_t.to_bytes(3, "big"), self.after))
        return head + self.before


Sent = tuple[int, int, int, bytes, int]  # sequence number, timestamp, marker, payload, abs


def install(sender: RTCRtpSender, counters: RelayCounters | None = None) -> LeanSender:
    """Replace `sender`'s RTP loop and retransmission with the lean ones (before it starts);
    what it sends is added to the relay's `counters` (metrics)."""
    missing = [name for name in _SENDER_ATTRS if not hasattr(sender, _S + name)]
    if missing or not hasattr(sender, "_run_rtp") or not hasattr(sender, "_retransmit"):
        raise RuntimeError(f"aiortc's RTCRtpSender changed ({missing}): update relay.rtp_out")
    lean = LeanSender(sender, counters or RelayCounters())
    # Instance attributes: aiortc looks both up on the sender, when it starts and on a NACK.
    sender._run_rtp = lean.run_rtp  # type: ignore[method-assign]
    sender._retransmit = lean.retransmit  # type: ignore[method-assign]
    return lean


def _get(obj: Any, prefix: str, name: str) -> Any:
    return getattr(obj, prefix + name)


def _add(obj: Any, prefix: str, name: str, value: int) -> None:
    setattr(obj, prefix + name, getattr(obj, prefix + name) + value)


def _route(dtls: RTCDtlsTransport) -> tuple[Any, Any, tuple[str, int]]:
    """SRTP session, send function and address for this frame; ConnectionError as aiortc."""
    if dtls._state != State.CONNECTED:
        raise ConnectionError("Cannot send encrypted RTP, not connected")
    pair = dtls.transport._connection._nominated.get(1)
    if pair is None:
        raise ConnectionError("Cannot send data, not connected")
    protocol = pair.protocol
    if type(protocol) is StunProtocol and protocol.transport is not None:
        return dtls._tx_srtp, protocol.transport.sendto, pair.remote_addr
    # A TURN relay (or anything else): its own send path, awaited per packet.
    return dtls._tx_srtp, None, pair.remote_addr


class LeanSender:
    """The send loop and retransmission of one passthrough sender."""

    def __init__(self, sender: RTCRtpSender, counters: RelayCounters) -> None:
        self.sender = sender
        self.counters = counters
        # Keyed by sequence number modulo RTP_HISTORY_SIZE: at most that many packets (as
        # aiortc's own history), older ones overwritten, so a NACK can reach back ~0.5 s.
        self.history: dict[int, Sent] = {}
        self.payload_type = 0

    async def run_rtp(self, codec: RTCRtpCodecParameters) -> None:
        sender = self.sender
        _get(sender, _S, "rtp_started").set()
        packer = SharedPacker()
        layout = Layout(_get(sender, _S, "rtp_header_extensions_map"), _get(sender, _S, "mid"))
        assert codec.payloadType is not None  # negotiated before the sender starts
        self.payload_type = payload_type = codec.payloadType
        ssrc = sender._ssrc
        history = self.history
        # Lower half of the range, as aiortc: a wrap early on would break SRTP decryption.
        sequence_number = random_sequence_number()
        timestamp_origin = random32()
        dtls = sender.transport
        counters = self.counters
        try:
            while True:
                track = sender.track
                if not track:
                    await asyncio.sleep(0.02)
                    continue
                data = await track.recv()
                if not sender._enabled:
                    continue
                payloads, pts = packer.pack(data)  # type: ignore[arg-type]
                if not payloads:
                    continue
                timestamp = (timestamp_origin + pts) & 0xFFFFFFFF
                srtp, sendto, addr = _route(dtls)
                last = len(payloads) - 1
                octets = wire = 0
                for i, payload in enumerate(payloads):
                    marker = 1 if i == last else 0
                    abs_t = abs_send_time(time.time())
                    head = layout.packet(
                        (marker << 7) | payload_type, sequence_number, timestamp, ssrc, abs_t
                    )
                    protected = srtp.protect(head + payload)
                    if sendto is not None:
                        sendto(protected, addr)
                    else:
                        await dtls.transport._connection.sendto(protected, 1)
                    history[sequence_number % RTP_HISTORY_SIZE] = (
                        sequence_number,
                        timestamp,
                        marker,
                        payload,
                        abs_t,
                    )
                    octets += len(payload)
                    wire += len(protected)
                    sequence_number = (sequence_number + 1) & 0xFFFF
                # What the RTCP sender reports and getStats read, kept as aiortc keeps them.
                setattr(sender, _S + "ntp_timestamp", ntp_time(time.time()))
                setattr(sender, _S + "rtp_timestamp", timestamp)
                _add(sender, _S, "octet_count", octets)
                _add(sender, _S, "packet_count", last + 1)
                _add(dtls, _T, "tx_bytes", wire)
                _add(dtls, _T, "tx_packets", last + 1)
                counters.rtp_packets += last + 1
                counters.rtp_bytes += wire
        except (asyncio.CancelledError, ConnectionError, MediaStreamError):
            pass
        finally:
            # As aiortc's loop ends: stop the track, and let RTCRtpSender.stop() return.
            track = sender.track
            if track:
                track.stop()
                setattr(sender, _S + "track", None)
            setattr(sender, _S + "encoder", None)
            _get(sender, _S, "rtp_exited").set()

    async def retransmit(self, sequence_number: int) -> None:
        """aiortc's `_retransmit` on the lean history: the packet as first sent, or its RTX."""
        sender = self.sender
        entry = self.history.get(sequence_number % RTP_HISTORY_SIZE)
        if entry is None or entry[0] != sequence_number:
            return
        seq, timestamp, marker, payload, abs_t = entry
        packet = RtpPacket(
            payload_type=self.payload_type,
            marker=marker,
            sequence_number=seq,
            timestamp=timestamp,
            ssrc=sender._ssrc,
            payload=payload,
        )
        packet.extensions.abs_send_time = abs_t
        packet.extensions.mid = _get(sender, _S, "mid")
        rtx_payload_type = _get(sender, _S, "rtx_payload_type")
        if rtx_payload_type is not None:
            rtx_seq = _get(sender, _S, "rtx_sequence_number")
            packet = wrap_rtx(
                packet,
                payload_type=rtx_payload_type,
                sequence_number=rtx_seq,
                ssrc=sender._rtx_ssrc,
            )
            setattr(sender, _S + "rtx_sequence_number", uint16_add(rtx_seq, 1))
        extensions_map = _get(sender, _S, "rtp_header_extensions_map")
        self.counters.retransmits += 1
        await sender.transport._send_rtp(packet.serialize(extensions_map))
