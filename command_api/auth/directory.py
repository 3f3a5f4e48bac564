"""Users, departments, API keys and grants in the store (synchronous: run in a thread)."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from command_api.auth.passwords import hash_password, verify_password
from command_api.auth.principal import Principal
from command_api.auth.roles import Role
from command_api.auth.tokens import api_key_digest, api_key_prefix, new_api_key
from sharpeye.registry import Registry
from sharpeye.store.models import ApiKeyRow, DepartmentRow, GrantRow, UserRow


class DirectoryError(ValueError):
    """A request the directory refuses (unknown department, duplicate user); says which."""


def sync_departments(session: Session, registry: Registry, now: float) -> int:
    """Insert or refresh the registry's departments; returns how many were added."""
    existing = {d.id: d for d in session.execute(select(DepartmentRow)).scalars()}
    added = 0
    for dep in registry.departments:
        row = existing.get(dep.id)
        if row is None:
            session.add(
                DepartmentRow(
                    id=dep.id, name=dep.name, kind=dep.kind, source="registry", created_at=now
                )
            )
            added += 1
        else:
            row.name, row.kind, row.source = dep.name, dep.kind, "registry"
    session.flush()
    return added


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    department: str,
    roles: list[Role],
    now: float,
    display_name: str = "",
) -> UserRow:
    if session.get(DepartmentRow, department) is None:
        raise DirectoryError(f"unknown department {department!r}")
    if session.execute(select(UserRow).where(UserRow.username == username)).first():
        raise DirectoryError(f"user {username!r} already exists")
    user = UserRow(
        username=username,
        display_name=display_name,
        department_id=department,
        password_hash=hash_password(password),
        roles=sorted(set(roles)),
        active=True,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> UserRow | None:
    user = session.execute(select(UserRow).where(UserRow.username == username)).scalar_one_or_none()
    ok = verify_password(user.password_hash if user else None, password)
    return user if ok and user is not None and user.active else None


def user_principal(user: UserRow, session_id: str | None = None) -> Principal:
    return Principal(
        kind="user",
        id=user.id,
        name=user.username,
        department=user.department_id,
        roles=frozenset(Role(r) for r in user.roles if r in Role.__members__.values()),
        session_id=session_id,
    )


DEFAULT_KEY_DAYS = 90
MAX_KEY_DAYS = 365
DEFAULT_OVERLAP_H = 24.0


class ApiKeyExpiredError(DirectoryError):
    """A key past its end (or its rotation's overlap): refused with 401, audited."""

    def __init__(self, row: ApiKeyRow) -> None:
        super().__init__("API key expired: ask an administrator to rotate it")
        self.row = row


def create_api_key(
    session: Session,
    *,
    name: str,
    department: str,
    roles: list[Role],
    by: str,
    now: float,
    days: int = DEFAULT_KEY_DAYS,
) -> tuple[str, ApiKeyRow]:
    if session.get(DepartmentRow, department) is None:
        raise DirectoryError(f"unknown department {department!r}")
    if not 1 <= days <= MAX_KEY_DAYS:
        raise DirectoryError(f"an API key lives 1 to {MAX_KEY_DAYS} days, not {days}")
    key, prefix, digest = new_api_key()
    row = ApiKeyRow(
        prefix=prefix,
        key_sha256=digest,
        name=name,
        department_id=department,
        roles=sorted(set(roles)),
        created_by=by,
        created_at=now,
        expires_at=now + days * 86400,
    )
    session.add(row)
    session.flush()
    return key, row


def rotate_api_key(
    session: Session, old: ApiKeyRow, *, by: str, now: float, days: int, overlap_h: float
) -> tuple[str, ApiKeyRow]:
    """A new key with the old one's name, department and roles; the old one keeps working
    `overlap_h` more hours (never longer than it would have), so the machine can switch."""
    if old.revoked_at is not None or old.expires_at <= now:
        raise DirectoryError("this key is revoked or expired: create a new one instead")
    if old.replaced_by is not None:
        raise DirectoryError(f"this key was already rotated (to key {old.replaced_by})")
    key, row = create_api_key(
        session,
        name=old.name,
        department=old.department_id,
        roles=[Role(r) for r in old.roles if r in Role.__members__.values()],
        by=by,
        now=now,
        days=days,
    )
    old.expires_at = min(old.expires_at, now + overlap_h * 3600)
    old.replaced_by = row.id
    return key, row


def api_key_principal(session: Session, key: str, now: float) -> Principal | None:
    """The key's caller; None for an unknown or revoked key; ApiKeyExpiredError past its end."""
    prefix = api_key_prefix(key)
    if prefix is None:
        return None
    row = session.execute(select(ApiKeyRow).where(ApiKeyRow.prefix == prefix)).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.key_sha256, api_key_digest(key)):
        return None
    if row.expires_at <= now:
        raise ApiKeyExpiredError(row)
    return Principal(
        kind="api_key",
        id=row.id,
        name=row.name,
        department=row.department_id,
        roles=frozenset(Role(r) for r in row.roles if r in Role.__members__.values()),
    )


def granted_groups(session: Session, department: str, now: float) -> set[str]:
    """Groups granted to `department` through the API (active, unexpired, not revoked)."""
    rows = session.execute(select(GrantRow).where(GrantRow.department_id == department)).scalars()
    groups: set[str] = set()
    for grant in rows:
        if grant.active(now):
            groups.update(grant.groups)
    return groups


def visible_cameras(
    registry: Registry, department: str, extra_groups: set[str], now: float
) -> set[str]:
    """The registry's answer (own cameras, owned groups, registry grants) plus API grants."""
    try:
        ids = registry.visible_camera_ids(department, datetime.fromtimestamp(now, UTC))
    except KeyError:
        # A department created through the API owns no registry cameras: grants only.
        ids = set()
    if extra_groups:
        ids.update(c.id for c in registry.cameras if not extra_groups.isdisjoint(c.groups))
    return ids
