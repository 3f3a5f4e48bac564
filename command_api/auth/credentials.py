"""Who is calling: a bearer token (login) or an API key (`X-API-Key`) turned into a
`Principal`, or a 401. Requests take it as `PrincipalDep`; WebSockets call
`principal_from_credential(runtime, token)` with their first message."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from command_api.audit import AuditEntry
from command_api.auth.directory import ApiKeyExpiredError, api_key_principal, user_principal
from command_api.auth.principal import Principal
from command_api.auth.sessions import session_problem
from command_api.auth.tokens import API_KEY_PREFIX, TokenError, decode_token
from command_api.runtime import Runtime, RuntimeDep, audit
from sharpeye.store.models import LoginSessionRow, UserRow

_bearer = HTTPBearer(auto_error=False, description="Access token from POST /api/auth/login.")
_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="A machine's API key (sk_...)."
)


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"}
    )


class RepeatGate:
    """One audit record per key per `interval_s` for the same refusal: a machine still using
    an expired key (or someone replaying it) would otherwise write a row per request, at
    whatever rate it likes, into a table nothing may delete from. The next record says how
    many were folded into it (`repeats`). Bounded: the oldest keys are forgotten first."""

    def __init__(self, interval_s: float = 60.0, max_keys: int = 10_000) -> None:
        self.interval_s = interval_s
        self.max_keys = max_keys
        self._seen: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def admit(self, key: str, now: float) -> int | None:
        """Repeats folded since the last record if this one is to be written, else None."""
        with self._lock:
            last = self._seen.get(key)
            if last is not None and now - last[0] < self.interval_s:
                self._seen[key] = (last[0], last[1] + 1)
                return None
            self._seen[key] = (now, 0)
            self._seen.move_to_end(key)
            while len(self._seen) > self.max_keys:
                self._seen.popitem(last=False)
            return 0 if last is None else last[1]


EXPIRED_KEY_AUDIT = RepeatGate()


def _api_key_caller(runtime: Runtime, key: str) -> Principal:
    with runtime.sessions() as s:
        try:
            principal = api_key_principal(s, key, runtime.clock.now())
        except ApiKeyExpiredError as e:
            row = e.row
            repeats = EXPIRED_KEY_AUDIT.admit(row.prefix, runtime.clock.now())
            expired = AuditEntry(
                row.name,
                row.department_id,
                "api_key.use",
                f"key:{row.prefix}",
                "denied",
                {"reason": "expired", "expired_at": row.expires_at, "repeats": repeats},
            )
            message = str(e)
        else:
            if principal is None:
                raise _unauthorized("unknown or revoked API key")
            return principal
    if repeats is not None:
        audit(runtime, expired)  # after the read session: its own write transaction
    raise _unauthorized(message)


def principal_from_credential(runtime: Runtime, credential: str) -> Principal:
    """The caller behind a bearer token or API key; raises 401. Also used by WebSockets."""
    if credential.startswith(API_KEY_PREFIX):
        return _api_key_caller(runtime, credential)
    with runtime.sessions() as s:
        try:
            now = runtime.clock.now()
            claims = decode_token(runtime.auth, credential, now)
        except TokenError as e:
            raise _unauthorized(str(e)) from None
        # The store, not the token, has the last word: a deactivated user, a changed
        # department or a revoked session (logout) takes effect at once, not at expiry.
        user = s.get(UserRow, claims.user_id)
        if user is None or not user.active:
            raise _unauthorized("user no longer active")
        if claims.session_id is not None:
            problem = session_problem(s.get(LoginSessionRow, claims.session_id), user, now)
            if problem is not None:
                raise _unauthorized(problem)
        return user_principal(user, claims.session_id)


def current_principal(
    runtime: RuntimeDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    credential = api_key or (bearer.credentials if bearer else None)
    if not credential:
        raise _unauthorized("log in (POST /api/auth/login) and send Authorization: Bearer")
    return principal_from_credential(runtime, credential)


PrincipalDep = Annotated[Principal, Depends(current_principal)]
