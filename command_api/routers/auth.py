"""Login (short-lived tokens), the caller's identity, and API keys for machines."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from command_api.alarms.writes import write_scope
from command_api.audit import AuditEntry, append
from command_api.auth.directory import DirectoryError, authenticate, create_api_key, user_principal
from command_api.auth.roles import Role
from command_api.auth.tokens import issue_token
from command_api.deps import AdminDep, PrincipalDep, RowId, RuntimeDep
from sharpeye.store.models import ApiKeyRow

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
    expires_in: int = Field(description="Seconds until the token expires; log in again then.")
    user: MeOut


class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="What machine uses it.")
    department: str = Field(description="Department whose scope the key has.")
    roles: list[Role] = Field(min_length=1)


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    department: str
    roles: list[Role]
    created_by: str
    created_at: float
    revoked_at: float | None


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
    )


@router.post(
    "/login",
    response_model=TokenOut,
    summary="Log in with user name and password",
    responses={401: {"description": "Wrong user name or password, or user inactive."}},
)
async def login(body: LoginIn, request: Request, runtime: RuntimeDep) -> TokenOut:
    def work() -> TokenOut | None:
        client = request.client.host if request.client else ""
        # The password check (deliberately slow) runs outside the write transaction.
        with runtime.sessions() as s:
            user = authenticate(s, body.username, body.password)
            principal = user_principal(user) if user is not None else None
        now = runtime.clock.now()
        if user is None or principal is None:
            entry = AuditEntry(
                body.username, "", "login", body.username, "denied", {"client": client}
            )
            with write_scope(runtime.sessions) as s:
                append(s, entry, now)
            return None
        token, claims = issue_token(
            runtime.auth,
            user_id=user.id,
            username=user.username,
            department=user.department_id,
            roles=principal.roles,
            now=now,
        )
        detail = {"client": client, "token_id": claims.token_id}
        with write_scope(runtime.sessions) as s:
            append(
                s,
                AuditEntry(user.username, user.department_id, "login", user.username, "ok", detail),
                now,
            )
        return TokenOut(
            access_token=token,
            expires_in=runtime.auth.token_ttl_s,
            user=MeOut(
                kind="user",
                name=user.username,
                department=user.department_id,
                roles=sorted(principal.roles),
            ),
        )

    result = await asyncio.to_thread(work)
    if result is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "wrong user name or password",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return result


@router.get("/me", response_model=MeOut, summary="Who the caller is")
def me(principal: PrincipalDep) -> MeOut:
    return MeOut(
        kind=principal.kind,
        name=principal.name,
        department=principal.department,
        roles=sorted(principal.roles),
    )


@router.get("/api-keys", response_model=list[ApiKeyOut], summary="List API keys")
def list_api_keys(runtime: RuntimeDep, admin: AdminDep) -> list[ApiKeyOut]:
    with runtime.sessions() as s:
        rows = s.execute(select(ApiKeyRow).order_by(ApiKeyRow.id)).scalars()
        return [_key_out(r) for r in rows]


@router.post(
    "/api-keys",
    response_model=NewApiKeyOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key for a machine",
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
                by=admin.actor,
                now=now,
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
                {"name": body.name, "department": body.department, "roles": sorted(body.roles)},
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
