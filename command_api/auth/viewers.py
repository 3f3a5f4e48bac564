"""Rechecking playing views for the relay: would this viewer token still be issued?

A viewer token names whose permission it carries (`sub`: `user:<id>` or `key:<id>`, and
`sid`, the login session it was issued under). The relay posts the tokens of its playing
views every few seconds (`relay.recheck`); for each, this module answers with the reason
the API would now refuse it, if any: the login session ended (logout, a new password, an
administrator's revocation, its maximum length), the user was disabled or moved to another
department, the API key was revoked or expired, or the camera left the department's scope
(a grant removed or expired, a registry edit). The same rules as a request's
(`session_problem`, and the caller's camera scope, which the router passes in as
`scope_of`), a handful of queries for any number of views; each refusal is audited
(`camera.view.ended`), and the relay closes those views.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from command_api.alarms.writes import write_scope
from command_api.audit import AuditEntry, append
from command_api.auth.directory import user_principal
from command_api.auth.principal import Principal
from command_api.auth.roles import Role
from command_api.auth.sessions import session_problem
from sharpeye.registry import Registry
from sharpeye.store.models import ApiKeyRow, LoginSessionRow, UserRow
from sharpeye.tokens import TokenError, TokenSigner, ViewerClaims

# Rows per IN (...).
_CHUNK = 500
ACTION = "camera.view.ended"

T = TypeVar("T")


class Scope(Protocol):
    def allows(self, camera_id: str) -> bool: ...


@dataclass(frozen=True)
class Refusal:
    index: int
    reason: str


def subject_of(principal: Principal | None) -> str | None:
    """How a viewer token names its holder (None: a scope without a caller)."""
    if principal is None:
        return None
    return f"{'user' if principal.kind == 'user' else 'key'}:{principal.id}"


def _parse_subject(subject: str) -> tuple[str, int] | None:
    kind, _, number = subject.partition(":")
    if kind not in ("user", "key") or not number.isdigit() or len(number) > 10:
        return None
    return kind, int(number)


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


@dataclass
class _Rows:
    users: dict[int, UserRow]
    keys: dict[int, ApiKeyRow]
    sessions: dict[str, LoginSessionRow]


def _load(sessions: sessionmaker[Session], claims: Sequence[ViewerClaims]) -> _Rows:
    user_ids: set[int] = set()
    key_ids: set[int] = set()
    for c in claims:
        parsed = _parse_subject(c.subject) if c.subject else None
        if parsed is not None:
            (user_ids if parsed[0] == "user" else key_ids).add(parsed[1])
    session_ids = sorted({c.session_id for c in claims if c.session_id})
    rows = _Rows({}, {}, {})
    with sessions() as s:
        for ids in _chunks(sorted(user_ids)):
            users = s.scalars(select(UserRow).where(UserRow.id.in_(ids)))
            rows.users.update((u.id, u) for u in users)
        for ids in _chunks(sorted(key_ids)):
            keys = s.scalars(select(ApiKeyRow).where(ApiKeyRow.id.in_(ids)))
            rows.keys.update((k.id, k) for k in keys)
        for sids in _chunks(session_ids):
            logins = s.scalars(select(LoginSessionRow).where(LoginSessionRow.id.in_(sids)))
            rows.sessions.update((r.id, r) for r in logins)
        # Detached from the session on return: only plain columns are read below.
        s.expunge_all()
    return rows


def _principal(c: ViewerClaims, rows: _Rows, now: float) -> Principal | str:
    """The token's holder as they are now, or why they may no longer act."""
    assert c.subject is not None
    parsed = _parse_subject(c.subject)
    if parsed is None:
        return "unknown viewer"
    kind, number = parsed
    if kind == "key":
        key = rows.keys.get(number)
        if key is None or key.revoked_at is not None:
            return "API key revoked"
        if key.expires_at <= now:
            return "API key expired"
        return Principal(
            kind="api_key",
            id=key.id,
            name=key.name,
            department=key.department_id,
            roles=frozenset(Role(r) for r in key.roles if r in Role.__members__.values()),
        )
    user = rows.users.get(number)
    if c.session_id is not None:
        problem = session_problem(rows.sessions.get(c.session_id), user, now)
        if problem is not None:
            return problem
    if user is None or not user.active:
        return "user no longer active"
    return user_principal(user, c.session_id)


def _actor(c: ViewerClaims, rows: _Rows) -> str:
    """The audit's name for a token's holder that is no longer allowed."""
    parsed = _parse_subject(c.subject) if c.subject else None
    if parsed is None:
        return c.subject or "anonymous"
    kind, number = parsed
    if kind == "user" and (user := rows.users.get(number)) is not None:
        return user.username
    if kind == "key" and (key := rows.keys.get(number)) is not None:
        return f"key:{key.name}"
    return c.subject or "anonymous"


def recheck(
    sessions: sessionmaker[Session],
    registry: Registry,
    now: float,
    signer: TokenSigner,
    tokens: Sequence[str],
    scope_of: Callable[[Principal], Scope],
) -> list[Refusal]:
    """The tokens (by index) the API would no longer issue, and why; refusals audited.
    `scope_of`: the cameras a caller may see now. Synchronous (the store): call it in a
    thread."""
    read: list[ViewerClaims | None] = []
    for token in tokens:
        try:
            read.append(signer.read(token))
        except TokenError:
            read.append(None)
    rows = _load(sessions, [c for c in read if c is not None])
    scopes: dict[tuple[str, bool], Scope] = {}
    refusals: list[Refusal] = []
    entries: list[AuditEntry] = []
    for index, claims in enumerate(read):
        if claims is None:
            refusals.append(Refusal(index, "not a valid viewer token"))
            continue
        holder: Principal | None = None
        reason: str | None = None
        if claims.camera_id not in registry.cameras_by_id:
            reason = "camera no longer in the registry"
        elif claims.subject is not None:
            found = _principal(claims, rows, now)
            if isinstance(found, str):
                reason = found
            else:
                holder = found
                if holder.department != claims.department:
                    reason = "viewer moved to another department"
                else:
                    key = (holder.department, holder.is_admin)
                    scope = scopes.get(key)
                    if scope is None:
                        scope = scopes[key] = scope_of(holder)
                    if not scope.allows(claims.camera_id):
                        reason = f"camera no longer visible to {holder.department}"
        if reason is None:
            continue
        refusals.append(Refusal(index, reason))
        entries.append(
            AuditEntry(
                actor=holder.actor if holder else _actor(claims, rows),
                department=claims.department,
                action=ACTION,
                target=f"camera:{claims.camera_id}",
                outcome="denied",
                detail={"reason": reason, "by": "relay recheck"},
            )
        )
    if entries:
        with write_scope(sessions) as s:
            for entry in entries:
                append(s, entry, now)
    return refusals
