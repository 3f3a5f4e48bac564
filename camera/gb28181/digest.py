"""SIP Digest authentication (RFC 2617, MD5) as GB/T 28181 devices and platforms use it.

Both sides: the registrar's challenge and check (`NonceIssuer`, `challenge`, `verify`) and
the client's answer (`authorization`, for a lower platform registering upward and for tests).

GB/T 28181 devices answer with or without `qop=auth`, so both forms are accepted (the
RFC 2069 form without qop is what many cameras send even when qop is offered). Nonces are
stateless (a timestamp and an HMAC under a per-process key), so thousands of devices cost no
table; a nonce older than its TTL earns a `stale=true` challenge, which devices answer
without bothering the user. With qop, the nonce count must grow (a replayed answer is
refused); without qop a nonce may be reused until it goes stale, as devices refreshing their
registration do.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from camera.gb28181.sip_headers import SipParseError

MAX_DIGEST_HEADER = 4096
_MAX_PARAMS = 24
# name=token or name="quoted string" (backslash escapes allowed inside), then a comma or end.
_PARAM = re.compile(
    r'[ \t]*([A-Za-z][A-Za-z0-9_-]*)[ \t]*=[ \t]*(?:"((?:[^"\\\x00-\x1f]|\\[^\x00-\x1f])*)"'
    r"|([A-Za-z0-9\-.!%*_+`'~/:]+))[ \t]*(?:,|\Z)"
)
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
_NC = re.compile(r"^[0-9a-fA-F]{8}$")


@dataclass(frozen=True)
class DigestResponse:
    """The parameters of an `Authorization: Digest ...` header (the response hash is not a
    secret, but it is kept out of repr all the same)."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str = field(repr=False)
    algorithm: str = "MD5"
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None


def parse_params(value: str, header: str) -> dict[str, str]:
    """'Digest a=b, c="d"' -> {'a': 'b', 'c': 'd'}; names lowered; SipParseError naming the
    header on anything else (another scheme, duplicates, junk between parameters)."""
    if len(value) > MAX_DIGEST_HEADER:
        raise SipParseError(f"bad {header} header: longer than {MAX_DIGEST_HEADER}", header)
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise SipParseError(f"bad {header} header: scheme {scheme[:20]!r} is not Digest", header)
    params: dict[str, str] = {}
    pos, rest = 0, rest.strip()
    while pos < len(rest):
        match = _PARAM.match(rest, pos)
        if not match:
            raise SipParseError(
                f"bad {header} header: cannot read {rest[pos : pos + 30]!r}", header
            )
        name = match.group(1).lower()
        if name in params:
            raise SipParseError(f"bad {header} header: {name} given twice", header)
        if len(params) >= _MAX_PARAMS:
            raise SipParseError(f"bad {header} header: too many parameters", header)
        quoted = match.group(2)
        params[name] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else match.group(3)
        pos = match.end()
    return params


def parse_authorization(value: str) -> DigestResponse:
    header = "Authorization"
    p = parse_params(value, header)
    for name in ("username", "realm", "nonce", "uri", "response"):
        if name not in p:
            raise SipParseError(f"bad {header} header: no {name}", header)
    algorithm = p.get("algorithm", "MD5")
    if algorithm.upper() != "MD5":
        raise SipParseError(f"bad {header} header: algorithm {algorithm!r} is not MD5", header)
    if not _HEX32.match(p["response"]):
        raise SipParseError(f"bad {header} header: response is not 32 hex digits", header)
    qop = p.get("qop")
    if qop is not None:
        if qop.lower() != "auth":
            raise SipParseError(f"bad {header} header: qop {qop!r} (only auth)", header)
        if not _NC.match(p.get("nc", "")) or not p.get("cnonce"):
            raise SipParseError(f"bad {header} header: qop=auth needs nc and cnonce", header)
    return DigestResponse(
        username=p["username"],
        realm=p["realm"],
        nonce=p["nonce"],
        uri=p["uri"],
        response=p["response"].lower(),
        algorithm="MD5",
        qop=qop.lower() if qop else None,
        nc=p.get("nc"),
        cnonce=p.get("cnonce"),
        opaque=p.get("opaque"),
    )


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def expected_response(
    username: str,
    realm: str,
    password: str,
    method: str,
    uri: str,
    nonce: str,
    *,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
) -> str:
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    if qop:
        return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{ha2}")


def verify(answer: DigestResponse, method: str, password: str) -> bool:
    """Whether the answer was made with `password` (constant-time comparison)."""
    expected = expected_response(
        answer.username,
        answer.realm,
        password,
        method,
        answer.uri,
        answer.nonce,
        qop=answer.qop,
        nc=answer.nc,
        cnonce=answer.cnonce,
    )
    return hmac.compare_digest(expected, answer.response)


NonceState = Literal["ok", "stale", "invalid", "replayed"]


class NonceIssuer:
    """Stateless nonces: '<unix time hex>.<random>.<HMAC>' under a per-process key.

    A restart changes the key, so devices are challenged again: the same as a stale nonce.
    `check` also tracks, for qop=auth answers, the last nonce count per nonce (a bounded LRU)
    so a captured answer cannot be replayed while the nonce is fresh.
    """

    def __init__(
        self,
        ttl_s: float = 300.0,
        *,
        key: bytes | None = None,
        clock: Callable[[], float] = time.time,
        max_tracked: int = 100_000,
    ) -> None:
        self._key = key or os.urandom(32)
        self._ttl_s = ttl_s
        self._clock = clock
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._max_tracked = max_tracked

    def issue(self) -> str:
        stamp = f"{int(self._clock()):x}.{os.urandom(6).hex()}"
        return f"{stamp}.{self._mac(stamp)}"

    def _mac(self, stamp: str) -> str:
        return hmac.new(self._key, stamp.encode(), hashlib.sha256).hexdigest()[:24]

    def check(self, nonce: str, nc: str | None = None) -> NonceState:
        stamp, _, mac = nonce.rpartition(".")
        if not stamp or len(nonce) > 80 or not hmac.compare_digest(self._mac(stamp), mac):
            return "invalid"
        try:
            issued = int(stamp.partition(".")[0], 16)
        except ValueError:
            return "invalid"
        if self._clock() - issued > self._ttl_s:
            return "stale"
        if nc is not None:
            count = int(nc, 16)
            if count <= self._counts.get(nonce, 0):
                return "replayed"
            self._counts[nonce] = count
            self._counts.move_to_end(nonce)
            while len(self._counts) > self._max_tracked:
                self._counts.popitem(last=False)
        return "ok"


def challenge(realm: str, nonce: str, *, qop: bool = True, stale: bool = False) -> str:
    """The WWW-Authenticate value of a 401."""
    parts = [f'Digest realm="{realm}"', f'nonce="{nonce}"']
    if stale:
        parts.append("stale=true")
    parts.append("algorithm=MD5")
    if qop:
        parts.append('qop="auth"')
    return ", ".join(parts)


def authorization(
    username: str,
    password: str,
    www_authenticate: str,
    method: str,
    uri: str,
    *,
    nc: int = 1,
    cnonce: str | None = None,
) -> str:
    """The Authorization value answering a challenge (qop=auth when offered)."""
    p = parse_params(www_authenticate, "WWW-Authenticate")
    realm, nonce = p.get("realm", ""), p.get("nonce", "")
    if not nonce:
        raise SipParseError("bad WWW-Authenticate header: no nonce", "WWW-Authenticate")
    parts = [
        f'username="{username}"',
        f'realm="{realm}"',
        f'nonce="{nonce}"',
        f'uri="{uri}"',
    ]
    offered = [q.strip().lower() for q in p.get("qop", "").split(",")]
    if "auth" in offered:
        nc_text, cnonce = f"{nc:08x}", cnonce or os.urandom(8).hex()
        response = expected_response(
            username, realm, password, method, uri, nonce, qop="auth", nc=nc_text, cnonce=cnonce
        )
        parts += ["qop=auth", f"nc={nc_text}", f'cnonce="{cnonce}"']
    else:
        response = expected_response(username, realm, password, method, uri, nonce)
    parts += [f'response="{response}"', "algorithm=MD5"]
    if "opaque" in p:
        parts.append(f'opaque="{p["opaque"]}"')
    return "Digest " + ", ".join(parts)
