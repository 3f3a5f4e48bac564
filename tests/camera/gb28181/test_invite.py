"""The INVITE's SDP: the offer GB/T 28181 devices expect (s=Play, y= SSRC, PS/90000,
recvonly; TCP passive), and answers read strictly for what we use."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camera.gb28181.invite import MediaOffer, SdpError, make_ssrc, offer_sdp, parse_answer

ANSWER = (
    b"v=0\r\no=34020000001310000001 0 0 IN IP4 192.168.1.64\r\ns=Play\r\n"
    b"c=IN IP4 192.168.1.64\r\nt=0 0\r\nm=video 15060 RTP/AVP 96\r\na=sendonly\r\n"
    b"a=rtpmap:96 PS/90000\r\ny=0200000042\r\nf=\r\n"
)


def test_ssrc_digits() -> None:
    assert make_ssrc("3402000000", 42) == "0200000042"
    assert make_ssrc("3402000000", 10_007, live=False) == "1200000007"
    with pytest.raises(ValueError):
        make_ssrc("34020", 1)


def test_offer_udp_and_tcp_passive() -> None:
    udp = offer_sdp("P", "C", MediaOffer("udp", "10.0.0.5", 30000), "0200000042").decode()
    assert "s=Play\r\n" in udp and "m=video 30000 RTP/AVP 96\r\n" in udp
    assert "a=rtpmap:96 PS/90000\r\n" in udp and "a=recvonly\r\n" in udp
    assert udp.endswith("y=0200000042\r\n") and "setup" not in udp
    tcp = offer_sdp("P", "C", MediaOffer("tcp", "10.0.0.5", 30000), "0200000042").decode()
    assert "m=video 30000 TCP/RTP/AVP 96\r\n" in tcp and "a=setup:passive\r\n" in tcp


def test_answer_read() -> None:
    a = parse_answer(ANSWER, "0200000001")
    assert (a.host, a.port, a.transport, a.payload_type, a.ssrc) == (
        "192.168.1.64",
        15060,
        "udp",
        96,
        200000042,
    )
    tcp = ANSWER.replace(b"RTP/AVP", b"TCP/RTP/AVP").replace(b"y=0200000042\r\n", b"")
    b = parse_answer(tcp + b"a=setup:active\r\n", "0200000001")
    assert (b.transport, b.ssrc, b.setup) == ("tcp", 200000001, "active")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ((b"m=video 15060 RTP/AVP 96", b"m=audio 15060 RTP/AVP 8"), "no m=video"),
        ((b"PS/90000", b"H264/90000"), "no PS/90000"),
        ((b"c=IN IP4 192.168.1.64", b"c=IN IP6 ::1"), "not IN IP4"),
        ((b"y=0200000042", b"y=99999999999"), "bad y="),
        ((b"15060", b"70000"), "bad m= port"),
        ((b"s=Play", b"garbage"), "malformed SDP line"),
    ],
)
def test_bad_answers_named(change: tuple[bytes, bytes], why: str) -> None:
    with pytest.raises(SdpError, match=why):
        parse_answer(ANSWER.replace(*change), "0200000001")
    with pytest.raises(SdpError, match="no SDP"):
        parse_answer(b"", "0200000001")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_answer_raises_only_sdp_error(body: bytes) -> None:
    with contextlib.suppress(SdpError):
        parse_answer(body, "0200000001")
