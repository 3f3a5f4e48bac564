"""A WebSocket call straight into an in-process ASGI app (the harness's, lifespan running):
connect, authenticate with the first message as the wall does, read the answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI

from tests.command_api.access_table import HELLO

LIMIT_S = 20.0  # hang guard


async def socket_answer(app: FastAPI, path: str, query: str, token: str | None) -> int:
    """HELLO, or the close code the app answered with (before or after accepting)."""
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    from_app: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
    scope: dict[str, Any] = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"api")],
        "client": ("127.0.0.1", 40000),
        "server": ("api", 80),
        "subprotocols": [],
        "state": {},
    }
    await to_app.put({"type": "websocket.connect"})
    task = asyncio.create_task(app(scope, to_app.get, from_app.put))
    try:
        first = await asyncio.wait_for(from_app.get(), LIMIT_S)
        if first["type"] == "websocket.close":
            return int(first.get("code", 1000))
        assert first["type"] == "websocket.accept", first
        auth: dict[str, Any] = {"type": "auth"}
        if token is not None:
            auth["token"] = token
        await to_app.put({"type": "websocket.receive", "text": json.dumps(auth)})
        answer = await asyncio.wait_for(from_app.get(), LIMIT_S)
        if answer["type"] == "websocket.close":
            return int(answer.get("code", 1000))
        assert answer["type"] == "websocket.send", answer
        hello = json.loads(answer["text"])
        assert "hello" in (hello.get("kind"), hello.get("type")), hello
        return HELLO
    finally:
        await to_app.put({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(task, LIMIT_S)
