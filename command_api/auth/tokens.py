"""Short-lived access tokens (JWT, HS256) and API keys.

The signing secret comes from SHARPEYE_AUTH_SECRET (every API node of a city must share
it); without it, one is generated once into the data directory, which is right for one node.

An access token lives SHARPEYE_TOKEN_TTL_S (15 min); it names the login session it was
issued from (`sid`, `command_api.auth.sessions`), which the holder renews it from until the
session's absolute end, SHARPEYE_SESSION_MAX_S (12 h: a shift), or its revocation. Open
WebSockets recheck their caller every SHARPEYE_SESSION_RECHECK_S.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from command_api.auth.roles import Role

ALGORITHM = "HS256"
DEFAULT_TTL_S = 900
DEFAULT_SESSION_MAX_S = 12 * 3600
DEFAULT_RECHECK_S = 5.0
# Below this an access token would be renewed more often than the wall could keep up with.
MIN_TTL_S = 5
API_KEY_PREFIX = "sk_"


class TokenError(ValueError):
    """The token is malformed, expired or not ours; the message says which."""


@dataclass(frozen=True)
class AuthConfig:
    secret: str
    token_ttl_s: int = DEFAULT_TTL_S
    issuer: str = "sharpeye"
    session_max_s: int = DEFAULT_SESSION_MAX_S
    recheck_s: float = DEFAULT_RECHECK_S


def _env_number(name: str, default: float, low: float, high: float) -> float:
    raw = os.environ.get(name)
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {raw!r}") from None
    return min(max(value, low), high)


def load_auth_config(data_dir: Path) -> AuthConfig:
    session_max = int(_env_number("SHARPEYE_SESSION_MAX_S", DEFAULT_SESSION_MAX_S, 60, 7 * 86400))
    # An access token never outlives its session.
    ttl = int(_env_number("SHARPEYE_TOKEN_TTL_S", DEFAULT_TTL_S, MIN_TTL_S, session_max))
    recheck = _env_number("SHARPEYE_SESSION_RECHECK_S", DEFAULT_RECHECK_S, 0.2, 300)
    secret = os.environ.get("SHARPEYE_AUTH_SECRET") or _local_secret(data_dir)
    return AuthConfig(secret=secret, token_ttl_s=ttl, session_max_s=session_max, recheck_s=recheck)


def _local_secret(data_dir: Path) -> str:
    path = data_dir / "auth_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once must not each write a different secret.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    username: str
    department: str
    roles: frozenset[Role]
    expires_at: float
    token_id: str
    # The login session it was renewed from; None for tokens issued before sessions existed.
    session_id: str | None = None


def issue_token(
    config: AuthConfig,
    *,
    user_id: int,
    username: str,
    department: str,
    roles: frozenset[Role],
    now: float,
    session_id: str | None = None,
    not_after: float | None = None,
) -> tuple[str, TokenClaims]:
    """An access token for `token_ttl_s`, ending no later than `not_after` (its session's end)."""
    expires_at = now + config.token_ttl_s
    if not_after is not None:
        expires_at = min(expires_at, not_after)
    claims = TokenClaims(
        user_id=user_id,
        username=username,
        department=department,
        roles=roles,
        expires_at=expires_at,
        token_id=secrets.token_hex(8),
        session_id=session_id,
    )
    payload: dict[str, Any] = {
        "sub": str(user_id),
        "name": username,
        "dept": department,
        "roles": sorted(roles),
        "iat": int(now),
        "exp": int(claims.expires_at),
        "iss": config.issuer,
        "jti": claims.token_id,
    }
    if session_id is not None:
        payload["sid"] = session_id
    return jwt.encode(payload, config.secret, algorithm=ALGORITHM), claims


def decode_token(config: AuthConfig, token: str, now: float) -> TokenClaims:
    try:
        payload = jwt.decode(
            token,
            config.secret,
            algorithms=[ALGORITHM],
            issuer=config.issuer,
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "require": ["sub", "exp", "dept", "roles"],
            },
        )
    except jwt.PyJWTError as e:
        raise TokenError(f"invalid token: {e}") from None
    # Times are checked against the API's clock (controllable in tests), not time.time().
    if float(payload["exp"]) <= now:
        raise TokenError("token expired: log in again")
    try:
        roles = frozenset(Role(r) for r in payload["roles"])
        return TokenClaims(
            user_id=int(payload["sub"]),
            username=str(payload.get("name", "")),
            department=str(payload["dept"]),
            roles=roles,
            expires_at=float(payload["exp"]),
            token_id=str(payload.get("jti", "")),
            session_id=str(payload["sid"]) if payload.get("sid") else None,
        )
    except (ValueError, TypeError) as e:
        raise TokenError(f"invalid token claims: {e}") from None


def new_api_key() -> tuple[str, str, str]:
    """(key, prefix, sha256): the key is shown once; the store keeps prefix and hash."""
    prefix = secrets.token_hex(6)
    key = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, api_key_digest(key)


def api_key_digest(key: str) -> str:
    # SHA-256 suffices: the key is 256 random bits, not a guessable password.
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_prefix(key: str) -> str | None:
    if not key.startswith(API_KEY_PREFIX):
        return None
    prefix, sep, _ = key[len(API_KEY_PREFIX) :].partition("_")
    return prefix if sep and prefix else None
