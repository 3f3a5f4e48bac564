"""The global body cap: 413 for a declared or a streamed (chunked) body past it, before the
rest is read; the face-photo search keeps its own larger cap."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from command_api.limits import DEFAULT_MAX_BODY_BYTES, BodyLimit, max_body_bytes
from command_api.routers.sightings import MAX_PHOTO_BYTES
from tests.command_api.harness import Harness, harness

pytestmark = pytest.mark.integration

CHUNK = 64 * 1024


@pytest.fixture
async def api(tmp_path: Path, redis_url: str) -> AsyncIterator[Harness]:
    async with harness(tmp_path, redis_url, start_services=False) as h:
        yield h


class Chunks:
    """A body sent chunked (no Content-Length), counting how much of it was pulled."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            self.sent += CHUNK
            yield b"x" * CHUNK


async def test_a_declared_body_over_the_cap_is_refused_unread(api: Harness) -> None:
    big = json.dumps({"username": "admin", "password": "p" * (2 << 20)})
    r = await api.client.post(
        "/api/auth/login", content=big, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json() == {"detail": f"request body larger than {DEFAULT_MAX_BODY_BYTES} bytes"}


async def test_a_chunked_body_is_cut_off_at_the_cap(api: Harness) -> None:
    body = Chunks(64 << 20)
    r = await api.client.post(
        "/api/auth/login", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413, r.text
    assert "content-length" not in r.request.headers
    # Refused at the first chunk past 1 MiB: the other 63 MiB were never read.
    assert body.sent == DEFAULT_MAX_BODY_BYTES + CHUNK


async def test_a_body_under_the_cap_passes(api: Harness) -> None:
    r = await api.client.post("/api/auth/login", json={"username": "x", "password": "y" * 200})
    assert r.status_code == 401


async def test_the_face_search_keeps_its_larger_cap(api: Harness) -> None:
    headers = await api.login("police-wall")  # an investigator
    form = {"start": "0", "end": "3600", "case": "HF-1"}

    async def search(size: int) -> httpx.Response:
        files = {"photo": ("face.jpg", b"\xff" * size, "image/jpeg")}
        return await api.client.post("/api/sightings/face", data=form, files=files, headers=headers)

    # 3 MiB: past the global cap, within the route's; refused later as no usable photo.
    within = await search(3 << 20)
    assert within.status_code not in (413, 500), within.text
    over = await search(MAX_PHOTO_BYTES + 128 * 1024)
    assert over.status_code == 413


async def _bare_app(scope: Scope, receive: Receive, send: Send) -> None:
    """An ASGI app with no exception handling: the middleware itself answers 413."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


@pytest.mark.parametrize(("size", "status"), [(4096, 200), (4097, 413)])
async def test_any_asgi_app_is_covered(size: int, status: int) -> None:
    app = BodyLimit(_bare_app, max_bytes=4096)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

        async def exact() -> AsyncIterator[bytes]:
            yield b"y" * size

        r = await client.post("/", content=exact())
    assert r.status_code == status


def test_the_cap_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert max_body_bytes() == DEFAULT_MAX_BODY_BYTES
    monkeypatch.setenv("SHARPEYE_MAX_BODY_BYTES", "65536")
    assert max_body_bytes() == 65536
    monkeypatch.setenv("SHARPEYE_MAX_BODY_BYTES", "lots")
    with pytest.raises(ValueError, match="SHARPEYE_MAX_BODY_BYTES"):
        max_body_bytes()
