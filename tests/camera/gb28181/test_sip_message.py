"""The SIP parser: what real GB/T 28181 devices send parses, and anything malformed,
truncated or oversized is refused with an error that names the bad header."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from camera.gb28181.sip_headers import SipParseError, parse_name_addr, parse_uri, parse_via
from camera.gb28181.sip_message import (
    MAX_BODY_BYTES,
    MAX_HEADER_BYTES,
    SipRequest,
    SipResponse,
    StreamFramer,
    parse_message,
    response_to,
)

# A REGISTER as a Hikvision camera sends it (Digest answer included).
REGISTER = (
    b"REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.168.1.64:5060;rport;branch=z9hG4bK1371463273\r\n"
    b"From: <sip:34020000001320000001@3402000000>;tag=2043466181\r\n"
    b"To: <sip:34020000001320000001@3402000000>\r\n"
    b"Call-ID: 1011047669\r\n"
    b"CSeq: 2 REGISTER\r\n"
    b"Contact: <sip:34020000001320000001@192.168.1.64:5060>\r\n"
    b'Authorization: Digest username="34020000001320000001", realm="3402000000", '
    b'nonce="abc", uri="sip:34020000002000000001@3402000000", '
    b'response="0123456789abcdef0123456789abcdef", algorithm=MD5\r\n'
    b"Max-Forwards: 70\r\n"
    b"User-Agent: IP Camera\r\n"
    b"Expires: 3600\r\n"
    b"Content-Length: 0\r\n\r\n"
)

BODY = '<?xml version="1.0" encoding="GB2312"?>\r\n<Notify>名称</Notify>\r\n'.encode("gb2312")


def message_with_body(body: bytes, length: int | None = None) -> bytes:
    declared = len(body) if length is None else length
    return (
        b"MESSAGE sip:34020000002000000001@3402000000 SIP/2.0\r\n"
        b"Via: SIP/2.0/TCP 10.0.0.2:5060;branch=z9hG4bKx\r\n"
        b"From: <sip:34020000001320000001@3402000000>;tag=1\r\n"
        b"To: <sip:34020000002000000001@3402000000>\r\n"
        b"Call-ID: c1\r\n"
        b"CSeq: 20 MESSAGE\r\n"
        b"Content-Type: Application/MANSCDP+xml\r\n"
        + f"Content-Length: {declared}\r\n\r\n".encode()
        + body
    )


def test_register_parses_into_its_parts() -> None:
    message = parse_message(REGISTER)
    assert isinstance(message, SipRequest)
    assert message.method == "REGISTER"
    assert message.uri.user == "34020000002000000001"
    assert message.uri.host == "3402000000"
    via = message.vias[0]
    assert (via.transport, via.host, via.port, via.branch) == (
        "UDP",
        "192.168.1.64",
        5060,
        "z9hG4bK1371463273",
    )
    assert message.from_.uri.user == "34020000001320000001"
    assert message.from_.tag == "2043466181"
    assert message.to.tag is None
    assert message.cseq.number == 2 and message.cseq.method == "REGISTER"
    assert message.get("expires") == "3600"
    assert message.body == b""


def test_round_trip_keeps_headers_and_binary_body() -> None:
    message = parse_message(message_with_body(BODY))
    again = parse_message(message.to_bytes())
    assert again == message
    assert again.body == BODY


def test_compact_forms_and_folded_lines() -> None:
    raw = (
        b"MESSAGE sip:a@b SIP/2.0\r\n"
        b"v: SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bK1\r\n"
        b"f: <sip:x@y>;tag=1\r\nt: <sip:a@b>\r\ni: id\r\n"
        b"CSeq: 1\r\n MESSAGE\r\nl: 0\r\n\r\n"
    )
    message = parse_message(raw)
    assert message.call_id == "id"
    assert message.cseq.method == "MESSAGE"


def test_response_and_multiple_vias() -> None:
    raw = (
        b"SIP/2.0 200 OK\r\n"
        b"Via: SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bK1, SIP/2.0/UDP 5.6.7.8;branch=z9hG4bK2\r\n"
        b"From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: id\r\nCSeq: 7 MESSAGE\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    message = parse_message(raw)
    assert isinstance(message, SipResponse)
    assert message.status == 200
    assert [v.branch for v in message.vias] == ["z9hG4bK1", "z9hG4bK2"]


def test_udp_body_without_length_is_the_rest_and_extra_bytes_are_dropped() -> None:
    no_length = message_with_body(b"<a/>").replace(b"Content-Length: 4\r\n", b"")
    assert parse_message(no_length).body == b"<a/>"
    longer = message_with_body(b"<a/>junk", length=4)
    assert parse_message(longer).body == b"<a/>"
    with pytest.raises(SipParseError) as caught:
        parse_message(longer, stream=True)
    assert caught.value.header == "Content-Length"


@pytest.mark.parametrize(
    ("raw", "header", "words"),
    [
        (message_with_body(b"<a/>", length=40), "Content-Length", "40 declared, 4 bytes"),
        (message_with_body(b"", length=MAX_BODY_BYTES + 1), "Content-Length", "exceeds"),
        (REGISTER.replace(b"CSeq: 2 REGISTER", b"CSeq: two REGISTER"), "CSeq", "bad CSeq"),
        (REGISTER.replace(b"CSeq: 2 REGISTER", b"CSeq: 2 INVITE"), "CSeq", "does not match"),
        (REGISTER.replace(b"Call-ID: 1011047669\r\n", b""), "Call-ID", "missing Call-ID"),
        (REGISTER.replace(b"From: <sip:", b"From: <http:"), "From", "not a sip: URI"),
        (REGISTER.replace(b"To: <sip:3402", b"To: sip:3402<"), "To", "bad To"),
        (REGISTER.replace(b"SIP/2.0/UDP", b"SIP/2.0/SCTP"), "Via", "not supported"),
        (REGISTER.replace(b"Via: SIP/2.0/UDP", b"Via: SIP/3.0/UDP"), "Via", "bad Via"),
        (REGISTER.replace(b"Expires: 3600", b"Expires: 36\x0100"), "Expires", "control"),
    ],
)
def test_errors_name_the_bad_header(raw: bytes, header: str, words: str) -> None:
    with pytest.raises(SipParseError) as caught:
        parse_message(raw, stream=True)
    assert caught.value.header == header
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"", "no blank line"),
        (REGISTER[:200], "no blank line"),
        (b"REGISTER sip:a@b SIP/2.0\r\nBroken line\r\n\r\n", "malformed header line"),
        (b"REGISTER sip:a@b\r\nVia: x\r\n\r\n", "malformed request line"),
        (b"SIP/2.0 2000 OK\r\n\r\n", "malformed status line"),
        (b"REGISTER sip:a@b SIP/2.0\r\nX: \xff\xfe\r\n\r\n", "not UTF-8"),
        (b"REGISTER sip:a@b SIP/2.0\r\n" + b"X: y\r\n" * 65 + b"\r\n", "more than 64"),
        (b"REGISTER sip:a@b SIP/2.0\r\nX: " + b"y" * MAX_HEADER_BYTES + b"\r\n\r\n", "exceeds"),
    ],
)
def test_start_line_and_framing_errors(raw: bytes, words: str) -> None:
    with pytest.raises(SipParseError, match=words):
        parse_message(raw)


def test_a_bad_request_keeps_what_a_400_needs() -> None:
    raw = REGISTER.replace(b"Expires: 3600", b"Content-Length: 5")
    with pytest.raises(SipParseError) as caught:
        parse_message(raw)
    essentials = caught.value.reply_headers
    assert essentials is not None
    assert {n for n, _ in essentials} == {"Via", "From", "To", "Call-ID", "CSeq"}


def test_response_to_copies_the_transaction_headers_and_tags_to() -> None:
    request = parse_message(REGISTER)
    assert isinstance(request, SipRequest)
    response = response_to(request, 200, to_tag="abc", headers=[("Expires", "3600")])
    again = parse_message(response.to_bytes())
    assert isinstance(again, SipResponse)
    assert again.to.tag == "abc"
    assert again.call_id == request.call_id
    assert again.vias == request.vias
    assert again.get("Expires") == "3600"


def test_uri_and_name_addr_forms() -> None:
    uri = parse_uri("sip:34020000001320000001@10.0.0.9:5061;transport=tcp")
    assert (uri.user, uri.host, uri.port, uri.param("transport")) == (
        "34020000001320000001",
        "10.0.0.9",
        5061,
        "tcp",
    )
    assert str(uri) == "sip:34020000001320000001@10.0.0.9:5061;transport=tcp"
    assert parse_uri("sip:[::1]:5060").host == "[::1]"
    addr = parse_name_addr('"门口" <sip:a@b>;tag=9', "From")
    assert addr.display == "门口" and addr.tag == "9"
    assert parse_via("SIP/2.0/TCP host.example;branch=z9hG4bKq;rport").port is None
    for bad in ("sip:a@b:99999", "sip:", "sip:a b@c", "tel:123", "sip:a@b?x=y"):
        with pytest.raises(SipParseError):
            parse_uri(bad)


def test_stream_framer_cuts_by_content_length_and_answers_pings() -> None:
    one = message_with_body(BODY)
    two = message_with_body(b"<b/>")
    framer = StreamFramer()
    stream = b"\r\n\r\n" + one + two
    got: list[bytes] = []
    for i in range(0, len(stream), 7):  # arrives in small pieces
        got += framer.feed(stream[i : i + 7])
    assert got == [one, two]
    assert framer.pings == 1
    assert [parse_message(m, stream=True).body for m in got] == [BODY, b"<b/>"]


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (message_with_body(b"").replace(b"Content-Length: 0\r\n", b""), "required on TCP"),
        (message_with_body(b"", length=MAX_BODY_BYTES + 1), "exceeds"),
        (b"MESSAGE sip:a@b SIP/2.0\r\n" + b"X" * (MAX_HEADER_BYTES + 10), "exceeds"),
    ],
)
def test_stream_framer_refuses_streams_it_cannot_frame(data: bytes, words: str) -> None:
    with pytest.raises(SipParseError, match=words):
        StreamFramer().feed(data)


# --- fuzzing: the parser either returns a message or raises SipParseError, never anything
# else, and what it returns survives a round trip.


def _check(data: bytes, stream: bool = False) -> None:
    try:
        message = parse_message(data, stream=stream)
    except SipParseError as exc:
        assert str(exc)
        return
    again = parse_message(message.to_bytes(), stream=True)
    assert again.body == message.body
    assert _without_length(again) == _without_length(message)


def _without_length(message: SipRequest | SipResponse) -> SipRequest | SipResponse:
    # The writer always states Content-Length; a UDP datagram may have left it out.
    headers = tuple((n, v) for n, v in message.headers if n != "Content-Length")
    return replace(message, headers=headers)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check(data)
    _check(data, stream=True)


@settings(max_examples=400, deadline=None)
@given(position=st.integers(min_value=0, max_value=len(REGISTER)), junk=st.binary(max_size=40))
def test_fuzz_mutated_register(position: int, junk: bytes) -> None:
    _check(REGISTER[:position] + junk + REGISTER[position:])
    _check(REGISTER[:position])  # truncated anywhere


header_names = st.sampled_from(
    ["Via", "From", "To", "Call-ID", "CSeq", "Contact", "Expires", "Content-Length", "v", "l", "X"]
)
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x4E2D), max_size=60)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(header_names, header_values), max_size=12), st.binary(max_size=64))
def test_fuzz_structured_headers(headers: list[tuple[str, str]], body: bytes) -> None:
    head = "MESSAGE sip:a@b SIP/2.0\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers)
    _check(head.encode() + b"\r\n" + body)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(min_value=1, max_value=64), max_size=20))
def test_fuzz_stream_framer(data: bytes, cuts: list[int]) -> None:
    framer = StreamFramer()
    stream = message_with_body(BODY) + data
    position = 0
    try:
        for cut in [*cuts, len(stream)]:
            for message in framer.feed(stream[position : position + cut]):
                _check(message, stream=True)
            position += cut
    except SipParseError:
        pass
