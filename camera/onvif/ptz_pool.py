"""Open PTZ sessions kept per device and reused across requests.

Opening one costs about four round trips before the first command (service addresses,
profiles, the PTZ service's WSDL binding). A held wall button renews its move every 400 ms,
so without reuse most of that traffic would be set-up. A session is dropped after `idle_s`
unused, and at once when a command on it fails in a way that may mean it is stale (device
restarted, network gone), so the next request opens a fresh one. Refusals about the request
itself (no such preset) keep it.

Sessions are keyed by everything used to open them (host, port, user, a digest of the
password), so a registry edit to a camera's device or login opens a new one; the old one
idles out. Commands on one session may run concurrently (a stop must not queue behind a
timed move): each is its own HTTP request.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from camera.onvif.errors import OnvifNoPtzError, OnvifPresetError
from camera.onvif.ptz import PtzSession, open_ptz

Key = tuple[str, int, str, str]


@dataclass
class _Entry:
    stack: AsyncExitStack
    session: PtzSession
    last_used: float = field(default_factory=time.monotonic)
    users: int = 0
    stale: bool = False


class PtzPool:
    def __init__(self, idle_s: float = 60.0, timeout: float = 5.0) -> None:
        self.idle_s = idle_s
        self.timeout = timeout
        self._entries: dict[Key, _Entry] = {}
        self._opening: dict[Key, asyncio.Lock] = {}
        self.opened = 0  # sessions opened so far (tests and metrics)

    @asynccontextmanager
    async def session(
        self, host: str, port: int, username: str, password: str
    ) -> AsyncIterator[PtzSession]:
        key: Key = (host, port, username, hashlib.sha256(password.encode()).hexdigest())
        await self._sweep()
        entry = await self._entry(key, host, port, username, password)
        entry.users += 1
        try:
            yield entry.session
        except (OnvifNoPtzError, OnvifPresetError):
            raise  # about the request, not the session
        except BaseException:
            entry.stale = True  # closed below once nobody else is using it
            raise
        finally:
            entry.users -= 1
            entry.last_used = time.monotonic()
            if entry.stale:
                if self._entries.get(key) is entry:
                    del self._entries[key]
                if entry.users == 0:
                    await entry.stack.aclose()

    async def _entry(self, key: Key, host: str, port: int, username: str, password: str) -> _Entry:
        entry = self._entries.get(key)
        if entry is not None:
            return entry
        # One opening per device at a time: concurrent first requests share it.
        lock = self._opening.setdefault(key, asyncio.Lock())
        async with lock:
            entry = self._entries.get(key)
            if entry is None:
                stack = AsyncExitStack()
                try:
                    ptz = await stack.enter_async_context(
                        open_ptz(host, port, username, password, self.timeout)
                    )
                except BaseException:
                    await stack.aclose()
                    raise
                entry = self._entries[key] = _Entry(stack, ptz)
                self.opened += 1
        return entry

    async def _sweep(self) -> None:
        now = time.monotonic()
        idle = [
            k for k, e in self._entries.items() if e.users == 0 and now - e.last_used > self.idle_s
        ]
        for k in idle:
            await self._entries.pop(k).stack.aclose()

    async def close(self) -> None:
        entries, self._entries = list(self._entries.values()), {}
        for e in entries:
            await e.stack.aclose()
