"""Login (a renewable session behind short-lived access tokens), renewal, logout, the
caller's identity, sessions for administrators, and API keys for machines.

A login returns an access token (`expires_in`, 15 min by default) and a `refresh_token`;
POST /api/auth/refresh with it returns a fresh access token until the session's absolute
end (`session_expires_at`, SHARPEYE_SESSION_MAX_S), a logout, an administrator's revocation
or the user's deactivation; then it answers 401 and the holder must log in again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from sqlalchemy import select

from command_api.alarms.writes import write_scope
from command_api.audit import AuditEntry, append
from command_api.auth.directory import (
    DEFAULT_KEY_DAYS,
    DEFAULT_OVERLAP_H,
    MAX_KEY_DAYS,
    DirectoryError,
    authenticate,
    create_api_key,
    rotate_api_key,
    user_principal,
)
from command_api.auth.principal import Principal
from command_api.auth.roles import Role
from command_api.auth.sessions import SessionError, open_session, renew, revoke, user_sessions
from command_api.auth.throttle import Refused, login_throttle
from command_api.auth.tokens import issue_token
from command_api.auth.watch import watch_for
from command_api.deps import AdminDep, PrincipalDep, RowId, Runtime, RuntimeDep, audit
from command_api.routers.actors import recorded_actor
from command_api.routers.problems import unprocessable
from sharpeye.store.models import ApiKeyRow, LoginSessionRow, UserRow

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/auth", tags=["auth"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class MeOut(BaseModel):
    kind: str = Field(description="'user' or 'api_key'.")
    name: str
    department: str
    roles: list[Role]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(
        description="Seconds until the access token expires; renew it before then."
    )
    refresh_token: str = Field(
        description="Renews the access token (POST /api/auth/refresh) until the session ends. "
        "Keep it out of URLs and logs."
    )
    session_expires_at: float = Field(description="Unix time the session ends at the latest.")
    user: MeOut


SessionId = Annotated[str, PathParam(min_length=1, max_length=64, description="Session id.")]


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class SessionOut(BaseModel):
    id: str
    user: str
    created_at: float
    renewed_at: float
    expires_at: float
    revoked_at: float | None
    revoked_by: str
    client: str


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="What machine uses it.")
    department: str = Field(description="Department whose scope the key has.")
    roles: list[Role] = Field(min_length=1)
    expires_in_days: int = Field(
        default=DEFAULT_KEY_DAYS, ge=1, le=MAX_KEY_DAYS, description="Lifetime (days)."
    )


class RotateIn(BaseModel):
    expires_in_days: int = Field(
        default=DEFAULT_KEY_DAYS, ge=1, le=MAX_KEY_DAYS, description="The new key's lifetime."
    )
    overlap_hours: float = Field(
        default=DEFAULT_OVERLAP_H,
        ge=0,
        le=7 * 24,
        description="How long the old key keeps working, for the machine to switch.",
    )


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    department: str
    roles: list[Role]
    created_by: str
    created_at: float
    revoked_at: float | None
    expires_at: float = Field(description="Unix time the key stops working.")
    replaced_by: int | None = Field(description="The key that rotation put in its place.")


class NewApiKeyOut(ApiKeyOut):
    key: str = Field(description="Shown once: store it now; only its hash is kept.")


def _key_out(row: ApiKeyRow) -> ApiKeyOut:
    return ApiKeyOut(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        department=row.department_id,
        roles=[Role(r) for r in row.roles],
        created_by=row.created_by,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        expires_at=row.expires_at,
        replaced_by=row.replaced_by,
    )


@router.post(
    "/login",
    response_model=TokenOut,
    summary="Log in with user name and password",
    responses={
        401: {"description": "Wrong user name or password, or user inactive."},
        429: {
            "description": "Too many tries from this address, or this user is locked out "
            "from it: try again after Retry-After seconds (other addresses are not affected)."
        },
    },
)
async def login(body: LoginIn, request: Request, runtime: RuntimeDep) -> TokenOut:
    throttle = login_throttle()
    client = throttle.address(request)
    # Refused before argon2 runs and before the audit lock is taken: a flood of guesses
    # costs a Redis round trip each, not 64 MiB and a serialised write.
    attempt = await throttle.admit(runtime.redis, body.username, client, runtime.clock.now())
    if isinstance(attempt, Refused):
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"{attempt.reason}: try again in {attempt.retry_after_s} s",
            headers={"Retry-After": str(attempt.retry_after_s)},
        )
    if attempt.delay_s:
        await asyncio.sleep(attempt.delay_s)

    def work() -> TokenOut | None:
        # The password check (deliberately slow) runs outside the write transaction.
        with runtime.sessions() as s:
            user = authenticate(s, body.username, body.password)
        now = runtime.clock.now()
        if user is None:
            entry = AuditEntry(
                body.username, "", "login", body.username, "denied", {"client": client}
            )
            with write_scope(runtime.sessions) as s:
                append(s, entry, now)
            return None
        with write_scope(runtime.sessions) as s:
            user = s.get(UserRow, user.id)
            if user is None:
                return None
            renewal, row = open_session(
                s, user, now=now, max_s=runtime.auth.session_max_s, client=client
            )
            out = _tokens(runtime, user, row, renewal, now)
            detail = {"client": client, "session": row.id}
            append(
                s,
                AuditEntry(user.username, user.department_id, "login", user.username, "ok", detail),
                now,
            )
        return out

    async with throttle.hashing():
        result = await asyncio.to_thread(work)
    if result is not None:
        await throttle.succeeded(runtime.redis, attempt)
        return result
    now = runtime.clock.now()
    until = await throttle.failed(runtime.redis, attempt, now)
    if until:
        detail = {
            "client": client,
            "failures": throttle.config.max_failures,
            "until": until,
            "scope": "this user from this address",
        }
        entry = AuditEntry(body.username, "", "login.lockout", body.username, "denied", detail)
        await asyncio.to_thread(audit, runtime, entry)
        log.warning(
            "login locked out for %s s after %d failures from %s",
            throttle.config.lockout_s,
            throttle.config.max_failures,
            client,
        )
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "wrong user name or password",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _tokens(
    runtime: Runtime, user: UserRow, row: LoginSessionRow, renewal: str, now: float
) -> TokenOut:
    principal = user_principal(user, row.id)
    token, claims = issue_token(
        runtime.auth,
        user_id=user.id,
        username=user.username,
        department=user.department_id,
        roles=principal.roles,
        now=now,
        session_id=row.id,
        not_after=row.expires_at,
    )
    return TokenOut(
        access_token=token,
        expires_in=max(1, int(claims.expires_at - now)),
        refresh_token=renewal,
        session_expires_at=row.expires_at,
        user=MeOut(
            kind="user",
            name=user.username,
            department=user.department_id,
            roles=sorted(principal.roles),
        ),
    )


@router.post(
    "/refresh",
    response_model=TokenOut,
    summary="Renew the access token from the login session",
    responses={401: {"description": "Session unknown, ended or revoked, or user inactive."}},
)
async def refresh(body: RefreshIn, runtime: RuntimeDep) -> TokenOut:
    def work() -> TokenOut | str:
        now = runtime.clock.now()
        with write_scope(runtime.sessions) as s:
            try:
                row, user = renew(s, body.refresh_token, now)
            except SessionError as e:
                return str(e)
            # Not audited: a wall renews every few minutes all shift; the login and the
            # session's end are what the audit log needs.
            return _tokens(runtime, user, row, body.refresh_token, now)

    result = await asyncio.to_thread(work)
    if isinstance(result, str):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, result, headers={"WWW-Authenticate": "Bearer"}
        )
    return result


def _end_session(runtime: Runtime, session_id: str, by: Principal, action: str) -> bool:
    """Revoke and audit (sync: call in a thread); False when there is no such session."""
    now = runtime.clock.now()
    with write_scope(runtime.sessions) as s:
        row = revoke(s, session_id, recorded_actor(by), now)
        if row is None:
            return False
        entry = AuditEntry(by.actor, by.department, action, f"session:{session_id}")
        append(s, entry, now)
        return True


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End the caller's session: no more renewals; its tokens and sockets stop",
)
async def logout(principal: PrincipalDep, runtime: RuntimeDep) -> None:
    if principal.session_id is None:
        return  # an API key or a token from before sessions: nothing to end
    await asyncio.to_thread(_end_session, runtime, principal.session_id, principal, "logout")
    _wake_sockets(runtime)


def _wake_sockets(runtime: Runtime) -> None:
    # This process's sockets of the ended session close now; other replicas' within
    # SHARPEYE_SESSION_RECHECK_S.
    watch_for(runtime.sessions, runtime.clock, runtime.auth.recheck_s).poke()


@router.get("/sessions", response_model=list[SessionOut], summary="Login sessions, newest first")
def list_sessions(
    runtime: RuntimeDep,
    admin: AdminDep,
    user_id: Annotated[
        int | None, Query(ge=1, le=2_147_483_647, description="Only this user's sessions.")
    ] = None,
) -> list[SessionOut]:
    with runtime.sessions() as s:
        names = {uid: name for uid, name in s.execute(select(UserRow.id, UserRow.username))}
        return [
            SessionOut(
                id=r.id,
                user=names.get(r.user_id, "?"),
                created_at=r.created_at,
                renewed_at=r.renewed_at,
                expires_at=r.expires_at,
                revoked_at=r.revoked_at,
                revoked_by=r.revoked_by,
                client=r.client,
            )
            for r in user_sessions(s, user_id)
        ]


@router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a login session (its wall can no longer renew; its sockets close)",
    responses={404: {"description": "No such session."}},
)
async def revoke_session(session_id: SessionId, runtime: RuntimeDep, admin: AdminDep) -> None:
    found = await asyncio.to_thread(_end_session, runtime, session_id, admin, "session.revoke")
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no session {session_id!r}")
    _wake_sockets(runtime)


@router.get("/me", response_model=MeOut, summary="Who the caller is")
def me(principal: PrincipalDep) -> MeOut:
    return MeOut(
        kind=principal.kind,
        name=principal.name,
        department=principal.department,
        roles=sorted(principal.roles),
    )


@router.get(
    "/api-keys",
    response_model=list[ApiKeyOut],
    summary="List API keys with their expiry (never the key itself)",
)
def list_api_keys(runtime: RuntimeDep, admin: AdminDep) -> list[ApiKeyOut]:
    with runtime.sessions() as s:
        rows = s.execute(select(ApiKeyRow).order_by(ApiKeyRow.id)).scalars()
        return [_key_out(r) for r in rows]


@router.post(
    "/api-keys",
    response_model=NewApiKeyOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key for a machine",
    responses=unprocessable("Unknown department, or invalid fields."),
)
def new_api_key(body: ApiKeyIn, runtime: RuntimeDep, admin: AdminDep) -> NewApiKeyOut:
    now = runtime.clock.now()
    with write_scope(runtime.sessions) as s:
        try:
            key, row = create_api_key(
                s,
                name=body.name,
                department=body.department,
                roles=body.roles,
                by=recorded_actor(admin),
                now=now,
                days=body.expires_in_days,
            )
        except DirectoryError as e:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(e)) from None
        append(
            s,
            AuditEntry(
                admin.actor,
                admin.department,
                "api_key.create",
                f"key:{row.prefix}",
                "ok",
                {
                    "name": body.name,
                    "department": body.department,
                    "roles": sorted(body.roles),
                    "expires_at": row.expires_at,
                },
            ),
            now,
        )
        return NewApiKeyOut(key=key, **_key_out(row).model_dump())


@router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key",
    responses={404: {"description": "No such key."}},
)
def revoke_api_key(key_id: RowId, runtime: RuntimeDep, admin: AdminDep) -> None:
    now = runtime.clock.now()
    with write_scope(runtime.sessions) as s:
        row = s.get(ApiKeyRow, key_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no API key {key_id}")
        if row.revoked_at is None:
            row.revoked_at = now
        append(
            s, AuditEntry(admin.actor, admin.department, "api_key.revoke", f"key:{row.prefix}"), now
        )


@router.post(
    "/api-keys/{key_id}/rotate",
    response_model=NewApiKeyOut,
    status_code=status.HTTP_201_CREATED,
    summary="Replace an API key: a new key now, the old one working until the overlap ends",
    responses={
        404: {"description": "No such key."},
        409: {"description": "The key is revoked, expired or already rotated."},
    },
)
def rotate_key(
    key_id: RowId, runtime: RuntimeDep, admin: AdminDep, body: RotateIn | None = None
) -> NewApiKeyOut:
    wanted = body or RotateIn()
    now = runtime.clock.now()
    with write_scope(runtime.sessions) as s:
        old = s.get(ApiKeyRow, key_id)
        if old is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no API key {key_id}")
        try:
            key, row = rotate_api_key(
                s,
                old,
                by=recorded_actor(admin),
                now=now,
                days=wanted.expires_in_days,
                overlap_h=wanted.overlap_hours,
            )
        except DirectoryError as e:
            raise HTTPException(status.HTTP_409_CONFLICT, str(e)) from None
        detail = {"new_key": f"key:{row.prefix}", "old_expires_at": old.expires_at}
        entry = AuditEntry(
            admin.actor, admin.department, "api_key.rotate", f"key:{old.prefix}", "ok", detail
        )
        append(s, entry, now)
        return NewApiKeyOut(key=key, **_key_out(row).model_dump())
