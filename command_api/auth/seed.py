"""Demo seed for `sharpeye up`: the registry's departments and one user per role and
department that the demo needs. Idempotent: existing users are left as they are (an
operator's changes survive a restart). The demo's alarm rules are the registry's
`alarm_rules`, which the API itself keeps in the store (`command_api.alarms.registry_rules`)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from command_api.auth.directory import create_user, sync_departments
from command_api.auth.roles import Role
from sharpeye.plugins import BOOTSTRAP_ENV as BOOTSTRAP_ENV  # app.py reads it here
from sharpeye.registry import Registry, load_registry
from sharpeye.settings import Settings
from sharpeye.store.db import create_engine_for, session_factory, session_scope, upgrade_database
from sharpeye.store.models import DepartmentRow, UserRow


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    department: str
    roles: tuple[Role, ...]


# Demo logins only: `sharpeye up` prints them. A real deployment creates its own users.
DEMO_USERS = [
    DemoUser("admin", "admin-demo-pass", "police", (Role.ADMINISTRATOR,)),
    DemoUser("police-wall", "police-demo-pass", "police", (Role.WALL_OPERATOR, Role.INVESTIGATOR)),
    DemoUser("police-duty", "duty-demo-pass", "police", (Role.DUTY_OFFICER,)),
    DemoUser("forestry", "forestry-demo-pass", "forestry", (Role.WALL_OPERATOR,)),
    DemoUser("tourism", "tourism-demo-pass", "tourism", (Role.WALL_OPERATOR,)),
    DemoUser("education", "education-demo-pass", "education", (Role.DEPARTMENT_VIEWER,)),
    DemoUser("fisheries", "fisheries-demo-pass", "fisheries", (Role.WALL_OPERATOR,)),
]


def seed(session: Session, registry: Registry, users: list[DemoUser], now: float) -> list[DemoUser]:
    """Departments and users; returns the users that exist (new or already there)."""
    sync_departments(session, registry, now)
    departments = set(session.execute(select(DepartmentRow.id)).scalars())
    present = []
    for user in users:
        if user.department not in departments:
            continue
        exists = session.execute(select(UserRow).where(UserRow.username == user.username)).first()
        if not exists:
            create_user(
                session,
                username=user.username,
                password=user.password,
                department=user.department,
                roles=list(user.roles),
                now=now,
            )
        present.append(user)
    return present


def seed_demo(settings: Settings) -> list[DemoUser]:
    """Migrate the store and seed the demo (for `sharpeye up`)."""
    registry = load_registry(settings.registry)
    upgrade_database(settings)
    engine = create_engine_for(settings)
    try:
        with session_scope(session_factory(engine)) as s:
            return seed(s, registry, DEMO_USERS, time.time())
    finally:
        engine.dispose()


def bootstrap_admin(
    session: Session, registry: Registry, value: str | None, now: float
) -> str | None:
    """The first administrator of a fresh install, from SHARPEYE_BOOTSTRAP_ADMIN=user:password
    (in the registry's first department), created only while no user exists."""
    if not value or session.execute(select(UserRow.id).limit(1)).first():
        return None
    username, sep, password = value.partition(":")
    if not sep or not username or len(password) < 8:
        raise ValueError(f"{BOOTSTRAP_ENV} must be user:password with at least 8 characters")
    if not registry.departments:
        raise ValueError(f"{BOOTSTRAP_ENV}: the registry has no department to put the admin in")
    create_user(
        session,
        username=username,
        password=password,
        department=registry.departments[0].id,
        roles=[Role.ADMINISTRATOR],
        now=now,
    )
    return username
