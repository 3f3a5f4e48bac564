"""The GB/T 28181 service in-process on a free port of 127.0.0.1, on the tests' Redis, with
a 1 s keepalive interval (offline after 3 s of silence) so the tests run in seconds; and a
small Python device built on our own SIP endpoint, for what SIPp cannot send (malformed
messages, a second address)."""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest
import redis.asyncio

from camera.gb28181.digest import authorization
from camera.gb28181.sip_headers import SipUri
from camera.gb28181.sip_message import SipRequest, SipResponse, response_to
from camera.gb28181.transport import Peer, SipEndpoint, new_tag
from ingest.gb28181.service import Gb28181Service
from sharpeye.registry.gb28181 import Gb28181Config
from tests.ingest.gb28181.sipp import DEVICE_ID, DOMAIN, PASSWORD, PLATFORM_ID

OTHER_DEVICE = "34020000001320000002"
PASSWORD_ENV = "SHARPEYE_TEST_GB_PASSWORD"

T = TypeVar("T")


def config(port: int = 0) -> Gb28181Config:
    return Gb28181Config.model_validate(
        {
            "platform_id": PLATFORM_ID,
            "listen": {"host": "127.0.0.1", "port": port},
            "keepalive_interval_s": 1,
            "keepalive_misses": 3,
            "device_password": {"password_env": PASSWORD_ENV},
            "devices": [
                {"id": DEVICE_ID, "name": "东门 NVR"},
                {"id": OTHER_DEVICE, "name": "Spare"},
            ],
        }
    )


@pytest.fixture
async def bus(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def service(
    bus: redis.asyncio.Redis, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Gb28181Service]:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    svc = Gb28181Service(config(), bus, timer_f=4.0)
    await svc.start()
    yield svc
    await svc.stop()


async def until(probe: Callable[[], Awaitable[T | None]], what: str, within_s: float = 15.0) -> T:
    """Poll `probe` until it returns something; fail naming `what` after `within_s`."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        found = await probe()
        if found is not None:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class PyDevice:
    """A GB/T 28181 device over UDP made of our own endpoint (client transactions and all):
    it registers with Digest, sends MESSAGEs and answers the platform's requests 200."""

    def __init__(self, platform_port: int, device_id: str = DEVICE_ID, host: str = "127.0.0.1"):
        self.device_id = device_id
        self.endpoint = SipEndpoint(host, 0, self._answer, transports=("UDP",), timer_f=4.0)
        self.platform = Peer("UDP", "127.0.0.1", platform_port)
        self.uri = SipUri(PLATFORM_ID, DOMAIN)
        self.requests: list[SipRequest] = []
        self._call_id = f"{new_tag()}@{host}"
        self._tag = new_tag()
        self._nc = itertools.count(1)

    async def _answer(self, request: SipRequest, peer: Peer) -> SipResponse:
        self.requests.append(request)
        return response_to(request, 200, to_tag=new_tag())

    async def __aenter__(self) -> PyDevice:
        await self.endpoint.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.endpoint.stop()

    def _headers(self, to: str) -> list[tuple[str, str]]:
        return [
            ("From", f"<sip:{self.device_id}@{DOMAIN}>;tag={self._tag}"),
            ("To", f"<sip:{to}@{DOMAIN}>"),
            ("Call-ID", self._call_id),
        ]

    async def register(self, password: str = PASSWORD, expires: int = 3600) -> SipResponse:
        headers = [
            *self._headers(self.device_id),
            ("Contact", f"<sip:{self.device_id}@{self.endpoint.host}:{self.endpoint.bound_port}>"),
            ("Expires", str(expires)),
        ]
        first = await self.endpoint.request("REGISTER", self.uri, self.platform, headers)
        if first.status != 401:
            return first
        challenge = first.require("WWW-Authenticate")
        answer = authorization(
            self.device_id, password, challenge, "REGISTER", str(self.uri), nc=next(self._nc)
        )
        headers.append(("Authorization", answer))
        return await self.endpoint.request("REGISTER", self.uri, self.platform, headers)

    async def message(self, body: bytes) -> SipResponse:
        headers = [*self._headers(PLATFORM_ID), ("Content-Type", "Application/MANSCDP+xml")]
        return await self.endpoint.request("MESSAGE", self.uri, self.platform, headers, body)


async def first_request(device: PyDevice) -> SipRequest | None:
    """The first request the platform sent the device (for `until`)."""
    return device.requests[0] if device.requests else None


async def send_raw(
    port: int, data: bytes, host: str = "127.0.0.1", wait: float = 2.0
) -> bytes | None:
    """One datagram to the service; its answer, or None if none came within `wait`."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        sock.setblocking(False)
        await loop.sock_sendto(sock, data, ("127.0.0.1", port))
        try:
            return await asyncio.wait_for(loop.sock_recv(sock, 65536), wait)
        except TimeoutError:
            return None
