"""Playing views stay allowed, not just at their offer: the relay rechecks them with the API.

A viewer token is checked when its WHEP session is offered; a view then plays for hours.
Every `recheck_s` (5 s) this task posts the tokens of every open session of this worker to
the command API (`POST /api/cameras/viewer-tokens/check`), which answers which of them it
would no longer issue: the login session ended (logout, password change, an administrator's
revocation, its maximum length), the user was disabled or moved to another department, the
API key was revoked, or the camera left the department's scope (a grant removed or expired,
a registry edit). The relay closes those views at once (reason `revoked`), releasing what
they held, and the API audits each one. A view is thus cut within `recheck_s` plus one round
trip of its right ending, 10 s at most with the defaults.

Why a periodic recheck against the API rather than revocations pushed on the bus, or the
relay reading the store itself:
- the API is the only authority on who sees what (sessions, users, API keys, grants from the
  registry and from the API with their expiries); the relay holds no database credentials,
  must not import `command_api` (layers) and would otherwise copy its scope rules;
- a pushed revocation can be missed (a relay restarting or reconnecting to Redis when it is
  sent, a grant that simply expires, a registry edit): a periodic recheck would be needed as
  a safety net anyway, and alone it meets the 10 s bound;
- it costs one batched request per worker per period whatever the number of views (the API
  answers with a handful of queries), and it is stateless on both sides.
While the API cannot be reached, views are kept (a restart of the API must not black out every
wall) and the failure is logged and counted; `max_session_s` bounds them regardless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import httpx

from relay.sessions import SessionManager
from sharpeye.relay_settings import RECHECK_PURPOSE
from sharpeye.tokens import TokenSigner

log = logging.getLogger(__name__)

# Tokens per request: well under the API's body limit (a token is ~250 bytes).
BATCH = 500


class ViewerRecheck:
    def __init__(
        self, manager: SessionManager, signer: TokenSigner, url: str, interval_s: float
    ) -> None:
        self.manager = manager
        self.signer = signer
        self.url = url
        self.interval_s = interval_s
        self._failing = False

    async def run(self, stop: asyncio.Event) -> None:
        # A check must end before the next one is due, or a slow API would pile them up.
        timeout = httpx.Timeout(max(1.0, min(self.interval_s, 5.0)))
        async with httpx.AsyncClient(timeout=timeout) as client:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval_s)
                if stop.is_set():
                    return
                try:
                    await self.check(client)
                except Exception:
                    # Never let a bug here end the rechecks for the rest of the relay's life.
                    log.exception("viewer recheck failed")

    async def check(self, client: httpx.AsyncClient) -> int:
        """Recheck every open session that has a token; returns how many were closed."""
        open_ = [(sid, s.token) for sid, s in self.manager.sessions.items() if s.token]
        closed = 0
        for i in range(0, len(open_), BATCH):
            batch = open_[i : i + BATCH]
            refused = await self._ask(client, [token for _, token in batch if token])
            if refused is None:
                return closed
            for index, reason in refused:
                if 0 <= index < len(batch):
                    closed += await self._close(batch[index][0], batch[index][1], reason)
        return closed

    async def _ask(
        self, client: httpx.AsyncClient, tokens: Sequence[str]
    ) -> list[tuple[int, str]] | None:
        """The API's refusals as (index, reason); None when it did not answer."""
        headers = {"Authorization": f"Bearer {self.signer.issue_service(RECHECK_PURPOSE)}"}
        try:
            response = await client.post(self.url, json={"tokens": list(tokens)}, headers=headers)
            response.raise_for_status()
            body = response.json()
            refused = [(int(r["index"]), str(r["reason"])) for r in body["refused"]]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            self.manager.counters.recheck_failures += 1
            if not self._failing:
                # Once per outage: the URL and the kind of failure, never a token.
                log.warning(
                    "cannot recheck viewers with the API at %s (%s); views kept meanwhile",
                    self.url,
                    type(exc).__name__,
                )
            self._failing = True
            return None
        if self._failing:
            log.info("viewer recheck with the API works again")
        self._failing = False
        self.manager.counters.rechecks += 1
        return refused

    async def _close(self, session_id: str, token: str | None, reason: str) -> int:
        session = self.manager.sessions.get(session_id)
        # Still the view that was asked about (not ended and replaced meanwhile).
        if session is None or session.token != token:
            return 0
        holder = session.claims.subject if session.claims else None
        log.warning(
            "viewer %s (%s/%s, %s, %s) no longer allowed: %s; closing it",
            session_id[:8],
            session.camera_id,
            session.stream,
            session.department,
            holder or "no holder named",
            reason,
        )
        return 1 if await self.manager.end(session_id, "revoked") else 0
