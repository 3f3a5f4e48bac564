"""A user changes their own password: the current one is asked for (a wall left logged in
must not be enough to take the account over), the try is throttled like a login, and the
user's other sessions end. Administrators set others' passwords with PATCH /api/users/{id}.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from command_api.alarms.writes import write_scope
from command_api.audit import AuditEntry, append
from command_api.auth.directory import authenticate
from command_api.auth.passwords import hash_password
from command_api.auth.sessions import end_user_sessions
from command_api.auth.throttle import Refused, login_throttle
from command_api.deps import PrincipalDep, RuntimeDep, deny
from command_api.routers.problems import unprocessable
from sharpeye.store.models import UserRow

router = APIRouter(prefix="/api/auth", tags=["auth"])

ACTION = "user.password"


class PasswordIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=8, max_length=256)


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Change your own password; your other sessions end",
    responses={
        401: {"description": "Not logged in, or the current password is wrong."},
        403: {"description": "An API key has no password."},
        429: {"description": "Too many tries: try again after Retry-After seconds."},
        **unprocessable("The new password is too short or the same as the current one."),
    },
)
async def change_password(
    body: PasswordIn, request: Request, runtime: RuntimeDep, caller: PrincipalDep
) -> Response:
    if caller.kind != "user":
        raise await asyncio.to_thread(
            deny, runtime, caller, ACTION, caller.actor, "an API key has no password"
        )
    if body.new_password == body.current_password:
        raise HTTPException(422, "the new password is the current one")
    throttle = login_throttle()
    client = throttle.address(request)
    # The current password is a password guess like a login's: the same budget and lockout.
    attempt = await throttle.admit(runtime.redis, caller.name, client, runtime.clock.now())
    if isinstance(attempt, Refused):
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"{attempt.reason}: try again in {attempt.retry_after_s} s",
            headers={"Retry-After": str(attempt.retry_after_s)},
        )
    if attempt.delay_s:
        await asyncio.sleep(attempt.delay_s)

    def work() -> bool:
        with runtime.sessions() as s:  # argon2 outside the write transaction
            user = authenticate(s, caller.name, body.current_password)
        new_hash = hash_password(body.new_password) if user is not None else ""
        now = runtime.clock.now()
        with write_scope(runtime.sessions) as s:
            if user is None or user.id != caller.id:
                detail = {"client": client, "reason": "current password wrong"}
                append(
                    s,
                    AuditEntry(
                        caller.actor, caller.department, ACTION, caller.name, "denied", detail
                    ),
                    now,
                )
                return False
            row = s.get(UserRow, user.id)
            if row is None:
                return False
            row.password_hash = new_hash
            row.updated_at = now
            ended = end_user_sessions(s, row.id, caller.actor, now, keep=caller.session_id)
            done: dict[str, object] = {"client": client, "sessions_ended": len(ended)}
            append(
                s,
                AuditEntry(caller.actor, caller.department, ACTION, caller.name, "ok", done),
                now,
            )
            return True

    async with throttle.hashing():
        ok = await asyncio.to_thread(work)
    if not ok:
        await throttle.failed(runtime.redis, attempt, runtime.clock.now())
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "the current password is wrong",
            headers={"WWW-Authenticate": "Bearer"},
        )
    await throttle.succeeded(runtime.redis, attempt)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
