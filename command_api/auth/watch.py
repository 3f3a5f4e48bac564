"""Open WebSockets keep checking their caller, not just at connect.

A wall's alarm and health sockets stay open for a whole shift, far longer than the access
token they opened with. Each socket registers its caller here; every `interval_s` one
batched check (`sessions.ended`) finds those whose session was revoked or ran out, whose
user was deactivated or changed, or whose API key was revoked, and sets their event so the
socket closes (4401). `poke()` checks at once, after a logout or revocation on this
process; other API replicas see it within `interval_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from command_api.alarms.clock import Clock
from command_api.auth.principal import Principal
from command_api.auth.sessions import ended

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Watched:
    principal: Principal
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class CredentialWatch:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, interval_s: float) -> None:
        self._sessions = sessions
        self._clock = clock
        self.interval_s = interval_s
        self._watched: set[Watched] = set()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def watch(self, principal: Principal) -> Watched:
        """Start checking `principal`; its `ended` event is set when the credential ends."""
        entry = Watched(principal)
        self._watched.add(entry)
        # Every live socket registers here once its caller is known: audit the open.
        from command_api.audit.reads import socket_opened

        socket_opened(principal)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="auth-watch")
        return entry

    def unwatch(self, entry: Watched) -> None:
        self._watched.discard(entry)

    def poke(self) -> None:
        """Check now (a session was just revoked here)."""
        self._wake.set()

    async def _run(self) -> None:
        while self._watched:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()
            entries = list(self._watched)
            if not entries:
                break
            try:
                gone = await asyncio.to_thread(self._check, [e.principal for e in entries])
            except Exception:
                # A store hiccup must not close every wall's sockets: keep them, retry.
                log.exception("credential recheck failed; retrying in %.1f s", self.interval_s)
                continue
            for entry in entries:
                if entry.principal in gone:
                    entry.ended.set()
                    self._watched.discard(entry)

    def _check(self, principals: list[Principal]) -> set[Principal]:
        with self._sessions() as s:
            return ended(s, principals, self._clock.now())


_watches: weakref.WeakKeyDictionary[sessionmaker[Session], CredentialWatch] = (
    weakref.WeakKeyDictionary()
)


def watch_for(sessions: sessionmaker[Session], clock: Clock, interval_s: float) -> CredentialWatch:
    """The process's watch over the store behind `sessions` (one per API app)."""
    watch = _watches.get(sessions)
    if watch is None:
        watch = _watches[sessions] = CredentialWatch(sessions, clock, interval_s)
    return watch
