"""Users: administrators create them, move them between departments, change roles."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from command_api.alarms.writes import write_scope
from command_api.audit import AuditEntry, append
from command_api.auth.directory import DirectoryError, create_user
from command_api.auth.passwords import hash_password
from command_api.auth.roles import Role
from command_api.auth.sessions import end_user_sessions
from command_api.deps import AdminDep, RowId, RuntimeDep
from command_api.routers.actors import recorded_actor
from command_api.routers.problems import unprocessable
from sharpeye.store.models import DepartmentRow, UserRow

router = APIRouter(prefix="/api/users", tags=["users"])

Username = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")


class UserIn(BaseModel):
    username: str = Username
    password: str = Field(min_length=8, max_length=256, description="At least 8 characters.")
    department: str
    roles: list[Role] = Field(min_length=1)
    display_name: str = Field(default="", max_length=200)


class UserPatch(BaseModel):
    password: str | None = Field(default=None, min_length=8, max_length=256)
    department: str | None = None
    roles: list[Role] | None = Field(default=None, min_length=1)
    display_name: str | None = Field(default=None, max_length=200)
    active: bool | None = None


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    department: str
    roles: list[Role]
    active: bool
    created_at: float
    updated_at: float


def _out(u: UserRow) -> UserOut:
    return UserOut(
        id=u.id,
        username=u.username,
        display_name=u.display_name,
        department=u.department_id,
        roles=[Role(r) for r in u.roles],
        active=u.active,
        created_at=u.created_at,
        updated_at=u.updated_at,
    )


@router.get("", response_model=list[UserOut], summary="List users")
def list_users(runtime: RuntimeDep, admin: AdminDep) -> list[UserOut]:
    with runtime.sessions() as s:
        return [_out(u) for u in s.execute(select(UserRow).order_by(UserRow.id)).scalars()]


@router.post(
    "",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a user",
    responses=unprocessable("Unknown department, or invalid fields."),
)
def new_user(body: UserIn, runtime: RuntimeDep, admin: AdminDep) -> UserOut:
    now = runtime.clock.now()
    with write_scope(runtime.sessions) as s:
        try:
            user = create_user(
                s,
                username=body.username,
                password=body.password,
                department=body.department,
                roles=body.roles,
                display_name=body.display_name,
                now=now,
            )
        except DirectoryError as e:
            code = status.HTTP_409_CONFLICT if "exists" in str(e) else 422
            raise HTTPException(code, str(e)) from None
        append(
            s,
            AuditEntry(
                admin.actor,
                admin.department,
                "user.create",
                body.username,
                "ok",
                {"department": body.department, "roles": sorted(body.roles)},
            ),
            now,
        )
        return _out(user)


@router.get("/{user_id}", response_model=UserOut, responses={404: {"description": "No such user."}})
def get_user(user_id: RowId, runtime: RuntimeDep, admin: AdminDep) -> UserOut:
    with runtime.sessions() as s:
        user = s.get(UserRow, user_id)
        if user is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {user_id}")
        return _out(user)


@router.patch(
    "/{user_id}",
    response_model=UserOut,
    summary="Change a user (password, department, roles, active); a new password ends the "
    "user's other sessions",
    responses={
        404: {"description": "No such user."},
        **unprocessable("Unknown department, or invalid fields."),
    },
)
def patch_user(user_id: RowId, body: UserPatch, runtime: RuntimeDep, admin: AdminDep) -> UserOut:
    now = runtime.clock.now()
    with write_scope(runtime.sessions) as s:
        user = s.get(UserRow, user_id)
        if user is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {user_id}")
        changed: dict[str, object] = {}
        if body.department is not None:
            if s.get(DepartmentRow, body.department) is None:
                raise HTTPException(422, f"unknown department {body.department!r}")
            user.department_id = changed["department"] = body.department
        if body.roles is not None:
            user.roles = sorted(set(body.roles))
            changed["roles"] = user.roles
        if body.display_name is not None:
            user.display_name = changed["display_name"] = body.display_name
        if body.active is not None:
            user.active = changed["active"] = body.active
        if body.password is not None:
            user.password_hash = hash_password(body.password)
            changed["password"] = "changed"
            # Its other sessions end (their walls' sockets close at the next recheck); an
            # administrator changing their own password keeps the session doing it.
            keep = admin.session_id if admin.kind == "user" and admin.id == user.id else None
            changed["sessions_ended"] = len(
                end_user_sessions(s, user.id, recorded_actor(admin), now, keep=keep)
            )
        user.updated_at = now
        append(
            s,
            AuditEntry(admin.actor, admin.department, "user.update", user.username, "ok", changed),
            now,
        )
        return _out(user)
