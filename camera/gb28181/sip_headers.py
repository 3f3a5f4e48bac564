"""SIP header values for GB/T 28181: URIs, name-addresses (From/To/Contact), Via and
CSeq, read strictly; every error is a `SipParseError` naming the header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
LIST_HEADERS = frozenset({"via", "contact", "route", "record-route", "allow", "supported"})
ESSENTIAL = ("via", "from", "to", "call-id", "cseq")

TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
# Control characters other than tab have no place in a header value (after unfolding).
BAD_VALUE_CHARS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
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


# --- parsers --------------------------------------------------------------------------------


def _params(text: str, header: str) -> tuple[tuple[str, str | None], ...]:
    """';a=b;c' -> (('a', 'b'), ('c', None)); names lowered, values as written."""
    out: list[tuple[str, str | None]] = []
    for raw in text.split(";")[1:] if text.startswith(";") else text.split(";"):
        part = raw.strip()
        if not part:
            raise SipParseError(f"bad {header} header: empty parameter", header)
        name, eq, value = part.partition("=")
        name = name.strip()
        if not TOKEN.match(name):
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
        if not user or BAD_VALUE_CHARS.search(user) or " " in user:
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
        elif before and not all(TOKEN.match(word) for word in before.split()):
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
