"""SIP requests and responses for GB/T 28181-2016: a small, strict parser of our own.

Why not a library: aiosipua 0.7.1, the asyncio SIP library on the registry (Alpha), was
installed and read. Its parser is lenient where a service facing thousands of devices must
be strict: it skips header lines without a colon, decodes bad bytes into replacement
characters, keeps a body shorter than its Content-Length and trims a longer one silently.
It has no registrar role (Digest only on the client side) and no MESSAGE in its server
dispatch, so we would have used its parser alone and fought it. GB/T 28181 needs a narrow
subset of RFC 3261 (REGISTER and MESSAGE now, INVITE/BYE later, no proxying), which fits in
this module.

Strict means: every size is bounded, every header the subset uses is checked where it is
read, Content-Length is honoured (a shorter body is an error, never a guess) and every error
names the header that is bad. A `SipParseError` of a request whose essential headers were
readable carries them, so the transport can still answer 400 instead of going silent.
Header values (URIs, From/To, Via, CSeq) are read by `sip_headers`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from camera.gb28181.sip_headers import (
    BAD_VALUE_CHARS,
    ESSENTIAL,
    LIST_HEADERS,
    TOKEN,
    CSeq,
    NameAddr,
    SipParseError,
    SipUri,
    Via,
    canonical_name,
    parse_cseq,
    parse_expires,
    parse_name_addr,
    parse_uri,
    parse_via,
    split_list,
)

# Bounds: a UDP datagram holds at most ~64 KiB, and GB/T 28181 devices split large catalogs
# into several MESSAGEs for exactly that reason; TCP gets the same body cap.
MAX_HEADER_BYTES = 16 * 1024
MAX_HEADERS = 64
MAX_BODY_BYTES = 256 * 1024
MAX_MESSAGE_BYTES = MAX_HEADER_BYTES + MAX_BODY_BYTES

SIP_VERSION = "SIP/2.0"
_STATUS_LINE = re.compile(r"^SIP/2\.0 ([1-6][0-9]{2})(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?$")


@dataclass(frozen=True, slots=True)
class SipMessage:
    """Headers in wire order (canonical names, one value each) and the raw body."""

    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def get(self, name: str) -> str | None:
        """The single value of `name`; SipParseError if the header appears more than once."""
        values = self.get_all(name)
        if len(values) > 1:
            raise SipParseError(f"{canonical_name(name)} header appears {len(values)} times", name)
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        lower = canonical_name(name).lower()
        return [v for n, v in self.headers if n.lower() == lower]

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise SipParseError(f"missing {canonical_name(name)} header", canonical_name(name))
        return value

    @property
    def call_id(self) -> str:
        return self.require("Call-ID")

    @property
    def cseq(self) -> CSeq:
        return parse_cseq(self.require("CSeq"))

    @property
    def vias(self) -> list[Via]:
        return [parse_via(v) for v in self.get_all("Via")]

    @property
    def from_(self) -> NameAddr:
        return parse_name_addr(self.require("From"), "From")

    @property
    def to(self) -> NameAddr:
        return parse_name_addr(self.require("To"), "To")

    def _head(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        """Wire form; Content-Length is always written and always the body's length."""
        lines = [self._head()]
        lines += [f"{n}: {v}" for n, v in self.headers if n.lower() != "content-length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass(frozen=True, slots=True)
class SipRequest(SipMessage):
    method: str = "OPTIONS"
    uri: SipUri = field(default_factory=lambda: SipUri(None, "invalid"))

    def _head(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"


@dataclass(frozen=True, slots=True)
class SipResponse(SipMessage):
    status: int = 200
    reason: str = "OK"

    def _head(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason}"


# --- whole messages -------------------------------------------------------------------------


def parse_message(data: bytes, *, stream: bool = False) -> SipRequest | SipResponse:
    """Parse one complete message. `stream` (TCP): Content-Length is required and must match
    exactly; on UDP a missing one means the rest of the datagram, and bytes past it are
    dropped (RFC 3261 §18.3)."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipParseError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise SipParseError("no blank line after the headers (truncated message?)")
    if len(head) > MAX_HEADER_BYTES:
        raise SipParseError(f"header section exceeds {MAX_HEADER_BYTES} bytes")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("header section is not UTF-8") from None
    lines = text.split("\r\n")
    start = lines[0]
    headers = _header_lines(lines[1:])
    is_request = not start.startswith("SIP/")
    try:
        return _build(start, headers, body, stream)
    except SipParseError as exc:
        if is_request and exc.reply_headers is None:
            exc.reply_headers = _essentials(headers)
        raise


def _header_lines(lines: Sequence[str]) -> list[tuple[str, str]]:
    unfolded: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not unfolded:
                raise SipParseError("continuation line before any header")
            unfolded[-1] += " " + line.strip()
        elif line:
            unfolded.append(line)
        else:
            raise SipParseError("empty line inside the header section")
    if len(unfolded) > MAX_HEADERS:
        raise SipParseError(f"more than {MAX_HEADERS} headers")
    out: list[tuple[str, str]] = []
    for line in unfolded:
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not TOKEN.match(name):
            raise SipParseError(f"malformed header line {line[:40]!r} (no 'Name:')")
        name = canonical_name(name)
        value = value.strip()
        if BAD_VALUE_CHARS.search(value):
            raise SipParseError(f"bad {name} header: control character in value", name)
        if name.lower() in LIST_HEADERS:
            out += [(name, v) for v in split_list(value)]
        else:
            out.append((name, value))
    return out


def _essentials(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...] | None:
    """The raw headers a 400 needs, if each is present once (Via may repeat) and readable."""
    found = [(n, v) for n, v in headers if n.lower() in ESSENTIAL]
    names = [n.lower() for n, _ in found]
    if any(names.count(e) != 1 for e in ESSENTIAL if e != "via") or "via" not in names:
        return None
    try:
        for n, v in found:
            if n.lower() == "via":
                parse_via(v)
            elif n.lower() == "cseq":
                parse_cseq(v)
    except SipParseError:
        return None
    return tuple(found)


def _build(
    start: str, headers: list[tuple[str, str]], body: bytes, stream: bool
) -> SipRequest | SipResponse:
    body = _check_length(headers, body, stream)
    message: SipRequest | SipResponse
    if start.startswith("SIP/"):
        match = _STATUS_LINE.match(start)
        if not match:
            raise SipParseError(f"malformed status line {start[:60]!r}")
        message = SipResponse(tuple(headers), body, int(match.group(1)), match.group(2) or "")
    else:
        parts = start.split(" ")
        if len(parts) != 3 or parts[2] != SIP_VERSION or not TOKEN.match(parts[0]):
            raise SipParseError(f"malformed request line {start[:60]!r}")
        uri = parse_uri(parts[1])
        message = SipRequest(tuple(headers), body, parts[0], uri)
    for name in ESSENTIAL[1:]:
        message.require(name)
    if not message.vias:
        raise SipParseError("missing Via header", "Via")
    for via in message.vias:
        if via.transport not in ("UDP", "TCP"):
            raise SipParseError(f"bad Via header: transport {via.transport} not supported", "Via")
    cseq = message.cseq
    # Parsed here so a bad From or To is refused at the door, not deep in a handler.
    _ = message.from_, message.to
    if isinstance(message, SipRequest) and cseq.method != message.method:
        raise SipParseError(
            f"bad CSeq header: method {cseq.method} does not match {message.method}", "CSeq"
        )
    return message


def _check_length(headers: list[tuple[str, str]], body: bytes, stream: bool) -> bytes:
    values = [v for n, v in headers if n == "Content-Length"]
    if len(values) > 1:
        raise SipParseError("Content-Length header appears more than once", "Content-Length")
    if not values:
        if stream:
            raise SipParseError("missing Content-Length header (required on TCP)", "Content-Length")
        declared = len(body)
    else:
        declared = parse_expires(values[0], "Content-Length")
    if declared > MAX_BODY_BYTES:
        raise SipParseError(
            f"bad Content-Length header: {declared} exceeds {MAX_BODY_BYTES}", "Content-Length"
        )
    if len(body) < declared:
        raise SipParseError(
            f"bad Content-Length header: {declared} declared, {len(body)} bytes of body",
            "Content-Length",
        )
    if stream and len(body) > declared:
        raise SipParseError(
            f"bad Content-Length header: {declared} declared, {len(body)} bytes follow",
            "Content-Length",
        )
    return body[:declared]


class StreamFramer:
    """Cuts a TCP byte stream into messages by Content-Length (RFC 3261 §18.3).

    `feed` returns the complete messages' bytes; a framing error (no Content-Length, headers
    past the bound) raises SipParseError, after which the stream cannot be trusted and the
    connection must close. CRLF keepalives between messages (RFC 5626) are skipped;
    `pings` counts double-CRLF pings so the transport can answer them with a CRLF pong.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.pings = 0

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while True:
            while self._buf[:2] == b"\r\n":
                if self._buf[:4] == b"\r\n\r\n":
                    self.pings += 1
                    del self._buf[:4]
                else:
                    del self._buf[:2]
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > MAX_HEADER_BYTES:
                    raise SipParseError(f"header section exceeds {MAX_HEADER_BYTES} bytes")
                return out
            if end > MAX_HEADER_BYTES:
                raise SipParseError(f"header section exceeds {MAX_HEADER_BYTES} bytes")
            head = bytes(self._buf[:end])
            try:
                length = _stream_length(head)
            except SipParseError as exc:
                exc.reply_headers = _salvage(head)
                raise
            total = end + 4 + length
            if len(self._buf) < total:
                return out
            out.append(bytes(self._buf[:total]))
            del self._buf[:total]


def _salvage(head: bytes) -> tuple[tuple[str, str], ...] | None:
    """What a 400 needs from a request whose stream cannot be framed, if readable."""
    try:
        lines = head.decode("utf-8").split("\r\n")
        if lines[0].startswith("SIP/"):
            return None
        return _essentials(_header_lines(lines[1:]))
    except (UnicodeDecodeError, SipParseError):
        return None


def _stream_length(head: bytes) -> int:
    found: int | None = None
    for raw in head.split(b"\r\n")[1:]:
        name, colon, value = raw.partition(b":")
        if colon and name.strip().lower() in (b"content-length", b"l"):
            if found is not None:
                raise SipParseError(
                    "Content-Length header appears more than once", "Content-Length"
                )
            text = value.strip().decode("ascii", "replace")
            found = parse_expires(text, "Content-Length")
    if found is None:
        raise SipParseError("missing Content-Length header (required on TCP)", "Content-Length")
    if found > MAX_BODY_BYTES:
        raise SipParseError(
            f"bad Content-Length header: {found} exceeds {MAX_BODY_BYTES}", "Content-Length"
        )
    return found


# --- building -------------------------------------------------------------------------------

REASONS = {
    100: "Trying",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    423: "Interval Too Brief",
    481: "Call/Transaction Does Not Exist",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
    503: "Service Unavailable",
}


def build_response(
    essentials: Iterable[tuple[str, str]],
    status: int,
    *,
    reason: str | None = None,
    to_tag: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
) -> SipResponse:
    """A response carrying the request's Via/From/To/Call-ID/CSeq (RFC 3261 §8.2.6), with
    `to_tag` added to To when it has none."""
    out: list[tuple[str, str]] = []
    for name, value in essentials:
        if name.lower() not in ESSENTIAL:
            continue
        if name.lower() == "to" and to_tag and ";tag=" not in value.replace(" ", ""):
            value = f"{value};tag={to_tag}"
        out.append((canonical_name(name), value))
    return SipResponse(
        tuple(out) + tuple(headers), body, status, reason or REASONS.get(status, "Unknown")
    )


def response_to(
    request: SipRequest,
    status: int,
    *,
    reason: str | None = None,
    to_tag: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
) -> SipResponse:
    return build_response(
        request.headers, status, reason=reason, to_tag=to_tag, headers=headers, body=body
    )
