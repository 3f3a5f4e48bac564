"""Viewer tokens: short-lived, HMAC-signed permission to watch one camera for one department.

The command API issues them (after its own scope check); the relay checks them on every WHEP
request without calling back to the API, so both processes share one secret:
`SHARPEYE_TOKEN_SECRET`, or, on an embedded single node where it is unset, a random key the
first process generates into `<data_dir>/run/token.key` (mode 0600) and the others read.

Format: `v1.<payload>.<signature>`, both base64url without padding; the payload is compact
JSON `{"cam": id, "dept": id, "exp": unix_s}` and the signature is HMAC-SHA256 over
`v1.<payload>`. Tokens carry no secret and no stream URL; they are bearer tokens, so keep
them short-lived (default 5 minutes: a wall asks for a fresh one on each (re)connect).

A token may also name whose permission it carries: `"sub"` (`user:<id>` or `key:<id>`) and
`"sid"` (the login session it was issued under). The relay keeps a playing viewer's token
and has the API recheck it every few seconds (`relay.recheck`), so a logout, a revoked
session, a disabled user or a removed grant ends the view, not just the next offer. The
relay proves those rechecks are its own with a service token (`issue_service`), signed with
the same key: only holders of the key (the API and the relays) can make one.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

VERSION = "v1"
DEFAULT_TTL_S = 300
# A token valid for longer is a standing credential, not a viewing permission.
MAX_TTL_S = 3600
SECRET_ENV = "SHARPEYE_TOKEN_SECRET"
KEY_FILE = Path("run") / "token.key"
# Clocks of the API and relay nodes may drift a little apart.
CLOCK_SKEW_S = 30


class TokenError(ValueError):
    """A token is malformed, forged, expired or for something else; `str()` says which."""


@dataclass(frozen=True)
class ViewerClaims:
    camera_id: str
    department: str
    expires_at: int
    # Whose permission: "user:<id>" or "key:<id>"; None for a scope that names no caller.
    subject: str | None = None
    # The login session the token was issued under (users only).
    session_id: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and checks viewer tokens with one secret key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the viewer token secret must be at least 16 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "TokenSigner(key=***)"

    def _sign(self, head: str) -> str:
        return _b64(hmac.new(self._key, head.encode("ascii"), hashlib.sha256).digest())

    def _encode(self, payload: dict[str, object]) -> str:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        head = f"{VERSION}.{_b64(text.encode('utf-8'))}"
        return f"{head}.{self._sign(head)}"

    def issue(
        self,
        camera_id: str,
        department: str,
        ttl_s: int = DEFAULT_TTL_S,
        now: float | None = None,
        *,
        subject: str | None = None,
        session_id: str | None = None,
    ) -> str:
        if not 0 < ttl_s <= MAX_TTL_S:
            raise ValueError(f"token lifetime must be 1..{MAX_TTL_S} s, not {ttl_s}")
        exp = int(now if now is not None else time.time()) + ttl_s
        payload: dict[str, object] = {"cam": camera_id, "dept": department, "exp": exp}
        if subject is not None:
            payload["sub"] = subject
        if session_id is not None:
            payload["sid"] = session_id
        return self._encode(payload)

    def _payload(self, token: str) -> dict[str, object]:
        """The signed payload of one of our tokens; TokenError when it is not one."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != VERSION:
            raise TokenError("not a viewer token")
        head = f"{parts[0]}.{parts[1]}"
        # Constant-time: a forger learns nothing from how long the refusal took.
        if not hmac.compare_digest(self._sign(head), parts[2]):
            raise TokenError("bad token signature")
        try:
            data = json.loads(_unb64(parts[1]))
        except (ValueError, binascii.Error):
            raise TokenError("malformed token payload") from None
        if not isinstance(data, dict):
            raise TokenError("malformed token payload")
        return data

    def read(self, token: str) -> ViewerClaims:
        """The claims of a genuine viewer token, expired or not (for rechecking a view that
        began while it was valid); TokenError when forged or malformed."""
        data = self._payload(token)
        try:
            sub, sid = data.get("sub"), data.get("sid")
            return ViewerClaims(
                str(data["cam"]),
                str(data["dept"]),
                int(str(data["exp"])),
                str(sub) if sub else None,
                str(sid) if sid else None,
            )
        except (ValueError, KeyError, TypeError):
            raise TokenError("malformed token payload") from None

    def verify(self, token: str, camera_id: str, now: float | None = None) -> ViewerClaims:
        """The claims of a valid token for `camera_id`; TokenError otherwise."""
        claims = self.read(token)
        current = now if now is not None else time.time()
        if claims.expires_at + CLOCK_SKEW_S < current:
            raise TokenError("token expired")
        if claims.camera_id != camera_id:
            raise TokenError("token is for another camera")
        return claims

    def issue_service(self, purpose: str, ttl_s: int = 60, now: float | None = None) -> str:
        """A token for a call between our own services (`purpose` names the call), not a
        viewing permission: it has no camera, so `verify` refuses it."""
        exp = int(now if now is not None else time.time()) + ttl_s
        return self._encode({"svc": purpose, "exp": exp})

    def verify_service(self, token: str, purpose: str, now: float | None = None) -> None:
        """TokenError unless `token` is a live service token for `purpose`."""
        data = self._payload(token)
        if data.get("svc") != purpose:
            raise TokenError("not a service token for this call")
        try:
            exp = int(str(data["exp"]))
        except (ValueError, KeyError):
            raise TokenError("malformed token payload") from None
        if exp + CLOCK_SKEW_S < (now if now is not None else time.time()):
            raise TokenError("token expired")


def load_key(data_dir: Path, env: dict[str, str] | None = None) -> bytes:
    """The shared secret: from the environment, else the node's key file (created once)."""
    environ = os.environ if env is None else env
    configured = environ.get(SECRET_ENV)
    if configured:
        return configured.encode("utf-8")
    path = data_dir / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    # O_EXCL: when the API and the relay start together exactly one writes, both read it.
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key)
    for _ in range(50):
        text = path.read_text().strip()
        if text:
            return text.encode("utf-8")
        time.sleep(0.01)  # the other process created it and is still writing
    raise RuntimeError(f"viewer token key file {path} is empty: delete it or set {SECRET_ENV}")


def signer_for(data_dir: Path) -> TokenSigner:
    return TokenSigner(load_key(data_dir))


__all__ = [
    "DEFAULT_TTL_S",
    "MAX_TTL_S",
    "SECRET_ENV",
    "TokenError",
    "TokenSigner",
    "ViewerClaims",
    "load_key",
    "signer_for",
]
