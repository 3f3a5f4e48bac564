"""The lean RTP send loop sends what aiortc's would: same header, extensions, RTX, clock."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc import clock as aiortc_clock
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import RTP_HISTORY_SIZE, HeaderExtensionsMap, RtpPacket

from relay import rtp_out
from relay.counters import RelayCounters

MID = "0"
ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
SDES_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
S = "_RTCRtpSender__"


def extensions_map(*uris_ids: tuple[str, int]) -> HeaderExtensionsMap:
    m = HeaderExtensionsMap()
    m.configure(
        RTCRtpParameters(
            headerExtensions=[RTCRtpHeaderExtensionParameters(id=i, uri=u) for u, i in uris_ids]
        )
    )
    return m


def reference(m: HeaderExtensionsMap, marker: int, seq: int, ts: int, abs_t: int) -> bytes:
    packet = RtpPacket(
        payload_type=102, marker=marker, sequence_number=seq, timestamp=ts, ssrc=0xDEADBEEF
    )
    packet.payload = b"\x7c\x85" + bytes(range(200))
    packet.extensions.abs_send_time = abs_t
    packet.extensions.mid = MID
    data: bytes = packet.serialize(m)
    return data


@pytest.mark.parametrize(
    "negotiated",
    [
        ((SDES_MID, 4), (ABS_SEND_TIME, 2)),  # Chrome's usual ids
        ((ABS_SEND_TIME, 3), (SDES_MID, 9)),
        ((SDES_MID, 15),),  # a two-byte header, no abs-send-time
        (),  # no extensions at all
    ],
)
def test_packets_match_aiortc_byte_for_byte(negotiated: tuple[tuple[str, int], ...]) -> None:
    m = extensions_map(*negotiated)
    layout = rtp_out.Layout(m, MID)
    payload = b"\x7c\x85" + bytes(range(200))
    for marker, seq, ts, abs_t in [(0, 1, 2, 3), (1, 65535, 0xFFFFFFFF, 0xABCDEF), (0, 7, 0, 0)]:
        ours = layout.packet((marker << 7) | 102, seq, ts, 0xDEADBEEF, abs_t) + payload
        assert ours == reference(m, marker, seq, ts, abs_t)


def test_clock_matches_aiortc() -> None:
    when = datetime.datetime(2026, 11, 25, 12, 0, 1, 234567, tzinfo=datetime.UTC)
    ntp = aiortc_clock.datetime_to_ntp(when)
    now = when.timestamp()
    assert abs(rtp_out.ntp_time(now) - ntp) < 2**32 // 1_000_000  # within a microsecond
    assert abs(rtp_out.abs_send_time(now) - ((ntp >> 14) & 0xFFFFFF)) <= 1


@pytest.fixture
async def sender() -> AsyncIterator[RTCRtpSender]:
    pc = RTCPeerConnection()
    try:
        yield pc.addTransceiver("video", direction="sendonly").sender
    finally:
        await pc.close()


async def test_retransmission_is_what_aiortc_would_send(sender: RTCRtpSender) -> None:
    """A NACKed packet goes out again as aiortc's own `_retransmit` sends it (RTX-wrapped)."""
    counters = RelayCounters()
    lean = rtp_out.install(sender, counters)
    m = extensions_map((SDES_MID, 4), (ABS_SEND_TIME, 2))
    setattr(sender, S + "rtp_header_extensions_map", m)
    setattr(sender, S + "mid", MID)
    setattr(sender, S + "rtx_payload_type", 103)
    lean.payload_type = 102
    sent: list[bytes] = []

    async def capture(data: bytes) -> None:
        sent.append(data)

    sender.transport._send_rtp = capture  # type: ignore[method-assign]
    seq, ts, payload, abs_t = 4242, 90_000, b"\x65" + bytes(1000), 0x123456
    lean.history[seq % RTP_HISTORY_SIZE] = (seq, ts, 1, payload, abs_t)
    setattr(sender, S + "rtx_sequence_number", 500)
    await sender._retransmit(seq)
    await sender._retransmit(seq + RTP_HISTORY_SIZE)  # overwritten slot: nothing sent

    original = RtpPacket(
        payload_type=102, marker=1, sequence_number=seq, timestamp=ts, ssrc=sender._ssrc
    )
    original.payload = payload
    original.extensions.abs_send_time = abs_t
    original.extensions.mid = MID
    history: dict[int, Any] = getattr(sender, S + "rtp_history")
    history[seq % RTP_HISTORY_SIZE] = original
    setattr(sender, S + "rtx_sequence_number", 500)
    await RTCRtpSender._retransmit(sender, seq)
    assert len(sent) == 2 and sent[0] == sent[1]
    assert getattr(sender, S + "rtx_sequence_number") == 501
    assert counters.retransmits == 1  # the overwritten slot's NACK is not counted


async def test_install_replaces_the_loop_and_refuses_a_changed_aiortc(
    sender: RTCRtpSender,
) -> None:
    lean = rtp_out.install(sender)
    assert sender._run_rtp == lean.run_rtp
    delattr(sender, S + "rtp_history")
    with pytest.raises(RuntimeError, match=r"relay\.rtp_out"):
        rtp_out.install(sender)
