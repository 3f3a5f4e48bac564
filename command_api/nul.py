"""NUL characters are refused at the door (422), the same on SQLite and PostgreSQL.

PostgreSQL's text cannot hold U+0000: a query parameter carrying `%00` (a filter such as
`/api/deliveries?destination=a%00b`) reached the database and came back as a 500, where SQLite
simply matched nothing. No identifier, name, comment or filter in Sharpeye has a use for NUL,
so the path, the query string and JSON bodies are checked before any route runs. A JSON body
is only parsed here when its bytes hold the escape `\u0000` (a JSON string cannot hold a raw
NUL), so the usual request costs one substring search. Should a NUL still reach PostgreSQL,
`nul_in_text` answers the same 422 instead of the driver's error becoming a 500.
"""

from __future__ import annotations

import json
from urllib.parse import unquote_to_bytes

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MESSAGE = "text may not contain NUL (U+0000) characters"


def _detail(where: str) -> dict[str, object]:
    """FastAPI's own 422 shape (what the OpenAPI document promises for every 422)."""
    return {"detail": [{"loc": [where], "msg": MESSAGE, "type": "value_error"}]}


# PostgreSQL's SQLSTATEs for a character its encoding cannot take (NUL among them).
_NUL_SQLSTATES = {"22021", "22P05"}


def _json_has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_json_has_nul(k) or _json_has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_json_has_nul(v) for v in value)
    return False


def _body_has_nul(body: bytes) -> bool:
    if b"\\u0000" not in body:
        return False
    try:
        return _json_has_nul(json.loads(body))
    except (ValueError, RecursionError):
        return False  # not JSON (or absurdly deep): the route's own parsing answers it


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return b"json" in value.lower()
    return False


def _nul_in(scope: Scope) -> str | None:
    """ "path" or "query" when that part of the request holds a NUL, else None."""
    if "\x00" in scope.get("path", ""):
        return "path"
    query: bytes = scope.get("query_string", b"")
    # A literal zero byte survives unquoting, so this one check sees it and `%00` alike.
    if b"\x00" in unquote_to_bytes(query):
        return "query"
    return None


class RefuseNul:
    """Pure ASGI, so it runs before routing and auth; WebSocket handshakes are checked too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        where = _nul_in(scope)
        if where is not None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": MESSAGE})
            else:
                await JSONResponse(_detail(where), status_code=422)(scope, receive, send)
            return
        if scope["type"] == "http" and _is_json(scope):
            # Read whole (the body limit outside this has capped it), checked, then replayed.
            chunks: list[bytes] = []
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break  # the client left; the route will see the disconnect
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            if _body_has_nul(body):
                await JSONResponse(_detail("body"), status_code=422)(scope, receive, send)
                return
            await self.app(scope, _replay(body, receive), send)
            return
        await self.app(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the disconnect, when it comes

    return replayed


async def nul_in_text(request: Request, exc: Exception) -> JSONResponse:
    """The database refused a character (a NUL from a JSON body): 422, not 500.

    Any other DataError is a fault of ours and is raised again, to be a logged 500.
    """
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    if isinstance(exc, DataError) and sqlstate in _NUL_SQLSTATES:
        return JSONResponse(status_code=422, content=_detail("body"))
    raise exc
