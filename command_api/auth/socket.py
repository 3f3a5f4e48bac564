"""How a WebSocket says who it is without putting a token in its URL.

Browsers cannot set headers on a WebSocket, and a `?token=` in the URL ends up in access
logs and proxies. So the wall connects without one and sends, as its first message,
`{"type": "auth", "token": "<access token>"}`; the server reads it before sending anything.
`?token=` still works for API clients (every log line is scrubbed: `sharpeye.logs`).
"""

from __future__ import annotations

import asyncio
import json

from starlette.websockets import WebSocket

# A client that connects and says nothing is dropped after this.
AUTH_TIMEOUT_S = 10.0
# The close codes of every API socket (both live streams, `command_api.live`), one set:
# not authenticated, or the session ended while connected (log in or renew, then reconnect).
CLOSE_UNAUTHORIZED = 4401
# Authenticated, but asked for what the caller may not see (audited); do not retry.
CLOSE_FORBIDDEN = 4403
# The client fell too far behind (its queue is full): reconnect and reload what it shows.
CLOSE_TRY_AGAIN = 1013
AUTH_REQUIRED = 'send {"type": "auth", "token": ...} first'


async def first_message_token(websocket: WebSocket) -> str | None:
    """The token from an accepted socket's first message; None if it sent anything else,
    nothing within AUTH_TIMEOUT_S, or left."""
    try:
        message = await asyncio.wait_for(websocket.receive(), AUTH_TIMEOUT_S)
    except TimeoutError:
        return None
    text = message.get("text")
    if message.get("type") != "websocket.receive" or not isinstance(text, str):
        return None
    try:
        body = json.loads(text)
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("type") != "auth":
        return None
    token = body.get("token")
    return token if isinstance(token, str) and token else None
