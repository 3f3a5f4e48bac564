"""A global cap on request bodies (413), enforced while the body streams in.

Every route takes at most SHARPEYE_MAX_BODY_BYTES (1 MiB) unless it declares a larger cap of
its own with FastAPI's `max_body_size=` (the face-photo search does): the route puts that
number in the request's scope before it reads the body, and this cap follows it, so the two
never disagree. A declared Content-Length over the cap is refused at the first read, before
a byte of the body; a chunked body without one is counted as it arrives and refused at the
first chunk past the cap, so nothing larger is ever buffered. A body nobody reads (a 404, a
GET) costs nothing and is not refused.
"""

from __future__ import annotations

import os

from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY_BYTES = 1 << 20
ENV = "SHARPEYE_MAX_BODY_BYTES"


def max_body_bytes() -> int:
    """SHARPEYE_MAX_BODY_BYTES, at least 1 KiB (a login must fit); a bad value stops startup."""
    raw = os.environ.get(ENV)
    try:
        value = int(raw) if raw else DEFAULT_MAX_BODY_BYTES
    except ValueError:
        raise ValueError(f"{ENV} must be a number of bytes, not {raw!r}") from None
    return max(value, 1024)


class BodyTooLarge(HTTPException):
    """Raised from `receive`: an HTTPException, so the route's body parsing passes it on as
    it is (FastAPI turns other errors while reading into a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes")
        self.limit = limit


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimit:
    """Pure ASGI (no buffering, works under any framework); WebSockets pass untouched."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        received = 0
        started = False

        def limit() -> int:
            # A route with its own `max_body_size=` has set it in the scope by the time it
            # reads the body (Starlette's documented key): the more specific cap wins.
            own = scope.get(MAX_BODY_SIZE_SCOPE_KEY)
            return own if isinstance(own, int) else self.max_bytes

        async def counted_receive() -> Message:
            nonlocal received
            if declared is not None and declared > limit():
                raise BodyTooLarge(limit())  # before a byte of it is read
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit():
                    raise BodyTooLarge(limit())
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as e:
            # Raised where no exception handler turned it into the 413 (a bare ASGI app).
            if started:
                raise
            await JSONResponse(
                {"detail": f"request body larger than {e.limit} bytes"},
                status_code=413,
                # The rest of the body is not read: the connection cannot be reused.
                headers={"connection": "close"},
            )(scope, receive, send)
