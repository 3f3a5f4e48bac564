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
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# Bounds: a UDP datagram holds at most ~64 KiB, and GB/T 28181 devices split large catalogs
# into several MESSAGEs for exactly that reason; TCP gets the same body cap.
MAX_HEADER_BYTES = 16 * 1024
MAX_HEADERS = 64
MAX_BODY_BYTES = 256 * 1024
MAX_MESSAGE_BYTES = MAX_HEADER_BYTES + MAX_BODY_BYTES

SIP_VERSION = "SIP/2.0"
# Compact forms (RFC 3261 §7.3.3) to canonical names; lookups use the lowered canonical name.
_COMPACT = {
    "v": "Via",
    "f": "From",
    "t": "To",
    "i": "Call-ID",
    "m": "Contact",
    "l": "Content-Length",
    "c": "Content-Type",
    "e": "Content-Encoding",
    "k": "Supported",
    "s": "Subject",
}
_CANONICAL = {
    name.lower(): name
    for name in (
        *_COMPACT.values(),
        "CSeq",
        "Max-Forwards",
        "Expires",
        "Authorization",
        "WWW-Authenticate",
        "User-Agent",
        "Server",
        "Date",
        "Allow",
        "Warning",
        "Min-Expires",
        "Route",
        "Record-Route",
    )
}
# Headers whose value may be a comma-separated list (so one line may hold several).
_LIST_HEADERS = frozenset({"via", "contact", "route", "record-route", "allow", "supported"})
ESSENTIAL = ("via", "from", "to", "call-id", "cseq")

_TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
_STATUS_LINE = re.compile(r"^SIP/2\.0 ([1-6][0-9]{2})(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?$")
# Control characters other than tab have no place in a header value (after unfolding).
_BAD_VALUE_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_CSEQ = re.compile(r"^([0-9]{1,10})[ \t]+([A-Za-z0-9\-.!%*_+`'~]+)$")
_VIA = re.compile(r"^SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*([A-Za-z]+)[ \t]+([^;]+?)[ \t]*(;.*)?$")
_HOSTPORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(?::([0-9]{1,5}))?$")


class SipParseError(ValueError):
    """A message Sharpeye will not read. `header` names the culprit (None: the start line or
    the framing); `reply_headers` holds the request's raw Via/From/To/Call-ID/CSeq when they
    were readable, so a 400 can still be routed back."""

    def __init__(
        self,
        message: str,
        header: str | None = None,
        reply_headers: tuple[tuple[str, str], ...] | None = None,
    ) -> None:
        super().__init__(message)
        self.header = header
        self.reply_headers = reply_headers


def canonical_name(name: str) -> str:
    """'v' -> 'Via', 'call-id' -> 'Call-ID'; unknown names keep their spelling."""
    lower = name.lower()
    lower = _COMPACT.get(lower, name).lower() if len(lower) == 1 else lower
    return _CANONICAL.get(lower, name)


@dataclass(frozen=True, slots=True)
class SipUri:
    """sip:user@host:port;params (the subset GB/T 28181 uses: no headers part)."""

    user: str | None
    host: str
    port: int | None = None
    params: tuple[tuple[str, str | None], ...] = ()
    scheme: str = "sip"

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port is not None else ""
        params = "".join(f";{k}={v}" if v is not None else f";{k}" for k, v in self.params)
        return f"{self.scheme}:{user}{self.host}{port}{params}"

    def param(self, name: str) -> str | None:
        return dict(self.params).get(name.lower())


@dataclass(frozen=True, slots=True)
class NameAddr:
    """From / To / Contact: an optional display name, a URI and header parameters (tag)."""

    uri: SipUri
    display: str | None = None
    params: tuple[tuple[str, str | None], ...] = ()

    @property
    def tag(self) -> str | None:
        return dict(self.params).get("tag")

    def __str__(self) -> str:
        display = f'"{self.display}" ' if self.display else ""
        params = "".join(f";{k}={v}" if v is not None else f";{k}" for k, v in self.params)
        return f"{display}<{self.uri}>{params}"


@dataclass(frozen=True, slots=True)
class Via:
    transport: str  # UDP or TCP, upper case
    host: str
    port: int | None
    params: tuple[tuple[str, str | None], ...] = ()

    @property
    def branch(self) -> str | None:
        return dict(self.params).get("branch")

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        params = "".join(f";{k}={v}" if v is not None else f";{k}" for k, v in self.params)
        return f"SIP/2.0/{self.transport} {self.host}{port}{params}"


@dataclass(frozen=True, slots=True)
class CSeq:
    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


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


# --- header value parsers -------------------------------------------------------------------


def _params(text: str, header: str) -> tuple[tuple[str, str | None], ...]:
    """';a=b;c' -> (('a', 'b'), ('c', None)); names lowered, values as written."""
    out: list[tuple[str, str | None]] = []
    for raw in text.split(";")[1:] if text.startswith(";") else text.split(";"):
        part = raw.strip()
        if not part:
            raise SipParseError(f"bad {header} header: empty parameter", header)
        name, eq, value = part.partition("=")
        name = name.strip()
        if not _TOKEN.match(name):
            raise SipParseError(f"bad {header} header: parameter name {name!r}", header)
        value = value.strip()
        if eq and value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = value[1:-1]
        elif eq and not value:
            raise SipParseError(f"bad {header} header: parameter {name} has no value", header)
        out.append((name.lower(), value if eq else None))
    return tuple(out)


def _hostport(text: str, header: str) -> tuple[str, int | None]:
    match = _HOSTPORT.match(text.strip())
    if not match:
        raise SipParseError(f"bad {header} header: host {text.strip()!r}", header)
    port = int(match.group(2)) if match.group(2) else None
    if port is not None and not 0 < port < 65536:
        raise SipParseError(f"bad {header} header: port {port}", header)
    return match.group(1), port


def parse_uri(text: str, header: str = "Request-URI") -> SipUri:
    """sip:[user@]host[:port][;params]; sips: is read but GB/T 28181 uses sip:."""
    label = header if header == "Request-URI" else f"{header} header"
    scheme, colon, rest = text.strip().partition(":")
    if not colon or scheme.lower() not in ("sip", "sips"):
        raise SipParseError(f"bad {label}: {text[:80]!r} is not a sip: URI", header)
    if "?" in rest:
        raise SipParseError(f"bad {label}: URI headers ('?') are not supported", header)
    userinfo, at, hostpart = rest.rpartition("@")
    user: str | None = None
    if at:
        user = userinfo.partition(":")[0]  # a password in a URI is ignored, never used
        if not user or _BAD_VALUE_CHARS.search(user) or " " in user:
            raise SipParseError(f"bad {label}: empty or malformed user part", header)
    hostport, _, params = hostpart.partition(";")
    host, port = _hostport(hostport, header)
    return SipUri(user, host, port, _params(params, header) if params else (), scheme.lower())


def parse_name_addr(text: str, header: str) -> NameAddr:
    """'"Name" <sip:x@y>;tag=1' or 'sip:x@y;tag=1' (parameters then belong to the header)."""
    value = text.strip()
    display: str | None = None
    if "<" in value:
        before, _, after = value.partition("<")
        uri_text, close, params = after.partition(">")
        if not close:
            raise SipParseError(f"bad {header} header: '<' without '>'", header)
        before = before.strip()
        if before.startswith('"'):
            if not before.endswith('"') or len(before) < 2:
                raise SipParseError(f"bad {header} header: unterminated display name", header)
            before = before[1:-1]
        elif before and not all(_TOKEN.match(word) for word in before.split()):
            raise SipParseError(f"bad {header} header: display name {before[:30]!r}", header)
        display = before or None
        params = params.strip()
        if params and not params.startswith(";"):
            raise SipParseError(f"bad {header} header: text after '>'", header)
    else:
        uri_text, _, params = value.partition(";")
        params = ";" + params if params else ""
    uri = parse_uri(uri_text, header)
    return NameAddr(uri, display, _params(params, header) if params else ())


def parse_via(text: str) -> Via:
    match = _VIA.match(text.strip())
    if not match:
        raise SipParseError(f"bad Via header: {text[:80]!r}", "Via")
    transport = match.group(1).upper()
    host, port = _hostport(match.group(2), "Via")
    params = _params(match.group(3) or "", "Via") if match.group(3) else ()
    return Via(transport, host, port, params)


def parse_cseq(text: str) -> CSeq:
    match = _CSEQ.match(text.strip())
    if not match or int(match.group(1)) >= 2**31:
        raise SipParseError(f"bad CSeq header: {text[:40]!r}", "CSeq")
    return CSeq(int(match.group(1)), match.group(2))


def parse_expires(text: str, header: str = "Expires") -> int:
    value = text.strip()
    if not value.isdigit() or not value.isascii() or len(value) > 10:
        raise SipParseError(f"bad {header} header: {value[:20]!r} is not a number", header)
    return int(value)


def split_list(value: str) -> list[str]:
    """Split a list header on commas outside quotes and angle brackets."""
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for i, ch in enumerate(value):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth -= 1
        elif ch == "," and not quoted and depth == 0:
            parts.append(value[start:i].strip())
            start = i + 1
    parts.append(value[start:].strip())
    return [p for p in parts if p]


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
        if not colon or not _TOKEN.match(name):
            raise SipParseError(f"malformed header line {line[:40]!r} (no 'Name:')")
        name = canonical_name(name)
        value = value.strip()
        if _BAD_VALUE_CHARS.search(value):
            raise SipParseError(f"bad {name} header: control character in value", name)
        if name.lower() in _LIST_HEADERS:
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
        if len(parts) != 3 or parts[2] != SIP_VERSION or not _TOKEN.match(parts[0]):
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
            length = _stream_length(bytes(self._buf[:end]))
            total = end + 4 + length
            if len(self._buf) < total:
                return out
            out.append(bytes(self._buf[:total]))
            del self._buf[:total]


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
