"""Login sessions in the store (synchronous: run in a thread).

A login opens a session and hands its holder a renewal token, `<session id>.<secret>`; only
the secret's SHA-256 is kept. Renewing returns a fresh access token as long as the session
is neither revoked nor past its absolute end, and its user is still active. Every check of a
caller (requests, renewals, the WebSocket recheck) goes through `session_problem`, so the
three agree on when a session is over.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from command_api.auth.principal import Principal
from sharpeye.store.models import ApiKeyRow, LoginSessionRow, UserRow

# Ended sessions stay listed this long (for administrators and support), then are deleted at
# a later login, so the table holds about a week of logins however long the platform runs.
KEEP_ENDED_S = 7 * 86400
# Rows per IN (...) when rechecking many open sockets at once.
_CHUNK = 500

T = TypeVar("T")


class SessionError(ValueError):
    """A renewal refused; the message says why (never which part of the token was wrong)."""


def _digest(secret: str) -> str:
    # SHA-256 suffices: the secret is 256 random bits, not a guessable password.
    return hashlib.sha256(secret.encode()).hexdigest()


def open_session(
    s: Session, user: UserRow, *, now: float, max_s: float, client: str
) -> tuple[str, LoginSessionRow]:
    """A new session for `user` ending at now + max_s; returns (renewal token, row)."""
    s.execute(delete(LoginSessionRow).where(LoginSessionRow.expires_at < now - KEEP_ENDED_S))
    session_id = secrets.token_hex(16)
    secret = secrets.token_urlsafe(32)
    row = LoginSessionRow(
        id=session_id,
        user_id=user.id,
        secret_sha256=_digest(secret),
        created_at=now,
        renewed_at=now,
        expires_at=now + max_s,
        revoked_at=None,
        revoked_by="",
        client=client[:64],
    )
    s.add(row)
    s.flush()
    return f"{session_id}.{secret}", row


def session_problem(row: LoginSessionRow | None, user: UserRow | None, now: float) -> str | None:
    """Why this session may no longer act (None: it may)."""
    if row is None:
        return "unknown session: log in again"
    if row.revoked_at is not None:
        return "session ended (logged out or revoked): log in again"
    if row.expires_at <= now:
        return "session reached its maximum length: log in again"
    if user is None or not user.active or user.id != row.user_id:
        return "user no longer active"
    return None


def renew(s: Session, renewal_token: str, now: float) -> tuple[LoginSessionRow, UserRow]:
    """The live session and user behind `renewal_token`; SessionError if there is none."""
    session_id, sep, secret = renewal_token.partition(".")
    row = s.get(LoginSessionRow, session_id) if sep and 0 < len(session_id) <= 32 else None
    if row is None or not hmac.compare_digest(row.secret_sha256, _digest(secret)):
        raise SessionError("unknown session: log in again")
    user = s.get(UserRow, row.user_id)
    problem = session_problem(row, user, now)
    if problem is not None or user is None:
        raise SessionError(problem or "user no longer active")
    row.renewed_at = now
    return row, user


def revoke(s: Session, session_id: str, by: str, now: float) -> LoginSessionRow | None:
    """End a session (idempotent); None when there is no such session."""
    row = s.get(LoginSessionRow, session_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = now
        row.revoked_by = by[:64]
    return row


def end_user_sessions(
    s: Session, user_id: int, by: str, now: float, keep: str | None = None
) -> list[str]:
    """End every live session of a user but `keep` (the caller's own, when users change their
    own password); returns the ended ids. After a password change whoever knew the old one
    must not stay logged in through a session opened with it."""
    query = select(LoginSessionRow).where(
        LoginSessionRow.user_id == user_id,
        LoginSessionRow.revoked_at.is_(None),
        LoginSessionRow.expires_at > now,
    )
    ended_ids = []
    for row in s.scalars(query):
        if row.id != keep:
            row.revoked_at = now
            row.revoked_by = by[:64]
            ended_ids.append(row.id)
    return ended_ids


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def ended(s: Session, principals: Iterable[Principal], now: float) -> set[Principal]:
    """Those of `principals` whose credential no longer holds: a revoked or expired session,
    a deactivated user or one moved to another department or roles, a revoked or expired
    API key.
    A handful of queries for any number of callers (the recheck of every open socket)."""
    callers = list(principals)
    user_ids = sorted({p.id for p in callers if p.kind == "user"})
    key_ids = sorted({p.id for p in callers if p.kind == "api_key"})
    session_ids = sorted({p.session_id for p in callers if p.session_id})
    users: dict[int, UserRow] = {}
    for chunk in _chunks(user_ids):
        users.update((u.id, u) for u in s.scalars(select(UserRow).where(UserRow.id.in_(chunk))))
    keys: dict[int, ApiKeyRow] = {}
    for chunk in _chunks(key_ids):
        keys.update((k.id, k) for k in s.scalars(select(ApiKeyRow).where(ApiKeyRow.id.in_(chunk))))
    rows: dict[str, LoginSessionRow] = {}
    for ids in _chunks(session_ids):
        query = select(LoginSessionRow).where(LoginSessionRow.id.in_(ids))
        rows.update((r.id, r) for r in s.scalars(query))
    gone: set[Principal] = set()
    for p in callers:
        if p.kind == "api_key":
            key = keys.get(p.id)
            if key is None or key.revoked_at is not None or key.expires_at <= now:
                gone.add(p)
            continue
        user = users.get(p.id)
        changed = (
            user is None
            or not user.active
            or user.department_id != p.department
            or frozenset(user.roles) != frozenset(p.roles)
        )
        if changed or (p.session_id and session_problem(rows.get(p.session_id), user, now)):
            gone.add(p)
    return gone


def user_sessions(s: Session, user_id: int | None) -> list[LoginSessionRow]:
    """Sessions newest first, of one user or everyone's."""
    query = select(LoginSessionRow).order_by(LoginSessionRow.created_at.desc()).limit(1000)
    if user_id is not None:
        query = query.where(LoginSessionRow.user_id == user_id)
    return list(s.scalars(query))
