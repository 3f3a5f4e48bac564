"""RTSP Basic and Digest authorization (RFC 2617 as used by RTSP cameras)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass, field

_PARAM = re.compile(r'(\w+)=(?:"([^"]*)"|([^,\s]+))')


@dataclass
class Challenge:
    scheme: str
    params: dict[str, str] = field(default_factory=dict)


def parse_challenges(values: list[str]) -> list[Challenge]:
    out: list[Challenge] = []
    for value in values:
        scheme, _, rest = value.strip().partition(" ")
        params = {m.group(1).lower(): m.group(2) or m.group(3) for m in _PARAM.finditer(rest)}
        out.append(Challenge(scheme.lower(), params))
    return out


def _h(text: str, algorithm: str) -> str:
    algo = "sha256" if algorithm.upper().startswith("SHA-256") else "md5"
    return hashlib.new(algo, text.encode()).hexdigest()


class Authorizer:
    """Builds the Authorization header for each request once a challenge was received."""

    def __init__(self, username: str, password: str, allow_basic: bool = True) -> None:
        self._username = username
        self._password = password
        # False on plain rtsp:// unless the registry allows it: Basic is the password in
        # clear text, and a camera (or a man in the middle) offering only Basic gets nothing.
        self.allow_basic = allow_basic
        self._challenge: Challenge | None = None
        self._nc = 0

    def __repr__(self) -> str:
        return f"Authorizer(username={self._username!r}, password=***)"

    @property
    def ready(self) -> bool:
        return self._challenge is not None

    def accept(self, header_values: list[str]) -> bool:
        """Take the server's WWW-Authenticate values; prefer Digest. False if none usable."""
        challenges = parse_challenges(header_values)
        for ch in challenges:
            if ch.scheme == "digest" and "nonce" in ch.params:
                self._challenge = ch
                return True
        for ch in challenges:
            if ch.scheme == "basic" and self.allow_basic:
                self._challenge = ch
                return True
        return False

    def header(self, method: str, uri: str) -> str | None:
        ch = self._challenge
        if ch is None:
            return None
        if ch.scheme == "basic":
            token = base64.b64encode(f"{self._username}:{self._password}".encode()).decode()
            return f"Basic {token}"
        p = ch.params
        realm, nonce = p.get("realm", ""), p["nonce"]
        algorithm = p.get("algorithm", "MD5")
        ha1 = _h(f"{self._username}:{realm}:{self._password}", algorithm)
        ha2 = _h(f"{method}:{uri}", algorithm)
        parts = [
            f'username="{self._username}"',
            f'realm="{realm}"',
            f'nonce="{nonce}"',
            f'uri="{uri}"',
        ]
        qop = p.get("qop")
        if qop and "auth" in [q.strip() for q in qop.split(",")]:
            self._nc += 1
            nc = f"{self._nc:08x}"
            cnonce = os.urandom(8).hex()
            response = _h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}", algorithm)
            parts += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
        else:
            response = _h(f"{ha1}:{nonce}:{ha2}", algorithm)
        parts.append(f'response="{response}"')
        if "opaque" in p:
            parts.append(f'opaque="{p["opaque"]}"')
        if "algorithm" in p:
            parts.append(f"algorithm={algorithm}")
        return "Digest " + ", ".join(parts)
