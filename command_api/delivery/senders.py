"""How one outbox item reaches one destination: a signed webhook or an Apprise URL.

A sender returns on success and raises `DeliveryError` (with a message that holds no
secret) on anything else; the worker decides about retries.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any

import httpx

from sharpeye.contracts.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, sign

log = logging.getLogger(__name__)

TIMEOUT_S = 5.0


class DeliveryError(RuntimeError):
    """The destination did not take the message (the text never contains its URL)."""


@dataclass(frozen=True)
class Target:
    """A destination as the senders need it (a snapshot, no database row)."""

    id: str
    kind: str
    url: str
    secret: str | None


def summary(payload: dict[str, Any]) -> tuple[str, str]:
    """(title, body) for human channels (SMS, chat, email)."""
    alarm = payload.get("alarm", {})
    change = payload.get("change", "")
    title = f"[{str(alarm.get('severity', '')).upper()}] {alarm.get('title', 'alarm')}"
    if change == "escalated":
        title = f"ESCALATED (level {alarm.get('escalation_level')}): {title}"
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(alarm.get("occurred_at", 0))))
    body = (
        f"{alarm.get('camera_name', '')} ({alarm.get('camera_id', '')}) at {when}; "
        f"alarm #{alarm.get('id')} {alarm.get('state', '')}; "
        f"ref {payload.get('idempotency_key', '')}"
    )
    return title, body


class Senders:
    """Senders for each destination kind; owns one HTTP client (connection reuse)."""

    def __init__(self, timeout_s: float = TIMEOUT_S) -> None:
        self._http = httpx.AsyncClient(timeout=timeout_s)
        self._timeout_s = timeout_s

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, target: Target, payload: dict[str, Any], idempotency_key: str) -> None:
        if target.kind == "webhook":
            await self._webhook(target, payload, idempotency_key)
        elif target.kind == "apprise":
            await self._apprise(target, payload)
        else:
            raise DeliveryError(f"unknown destination kind {target.kind!r}")

    async def _webhook(self, target: Target, payload: dict[str, Any], key: str) -> None:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: key}
        if target.secret:
            headers[SIGNATURE_HEADER] = sign(target.secret, int(time.time()), body)
        try:
            response = await self._http.post(target.url, content=body, headers=headers)
        except httpx.HTTPError as e:
            raise DeliveryError(f"webhook {target.id}: {type(e).__name__}") from None
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"webhook {target.id}: HTTP {response.status_code}")

    async def _apprise(self, target: Target, payload: dict[str, Any]) -> None:
        title, body = summary(payload)
        # Apprise's plugins are blocking (requests): keep them off the event loop.
        await asyncio.to_thread(_apprise_notify, target, title, body)


_apprise_lock = threading.Lock()
_apprise_loaded = False


def _apprise_notify(target: Target, title: str, body: str) -> None:
    global _apprise_loaded
    import apprise

    with _apprise_lock:
        if not _apprise_loaded:
            # The first URL imports every Apprise plugin; some import deprecated or optional
            # modules (imghdr, gi) with warnings that say nothing about our configuration.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                apprise.Apprise().add("json://localhost")
            _apprise_loaded = True
    notifier = apprise.Apprise()
    if not notifier.add(target.url):
        raise DeliveryError(f"apprise {target.id}: URL not understood by Apprise")
    if not notifier.notify(body=body, title=title):
        raise DeliveryError(f"apprise {target.id}: notification not accepted")
