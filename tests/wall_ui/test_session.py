"""The wall's login session in a real browser against a real `sharpeye api` whose access
tokens live 8 s: it renews in the background with no dialog, keeps its sockets, is stopped
by a revocation or a deactivated user, and leaves no token in the API's log."""

from __future__ import annotations

import time

import httpx
import pytest
import redis

from sharpeye.contracts.events import EVENTS_STREAM, Event
from tests.wall_ui.conftest import DEMO_TOKEN_TTL_S, DemoApi, open_wall
from tests.wall_ui.test_wall import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FORESTRY = ("forestry", "forestry-demo-pass")
TOKEN = "sessionStorage.getItem('sharpeye.access_token')"
LIVE = "() => document.getElementById('live-state').classList.contains('online')"
# The sign-in panel is a non-modal <dialog>: open or not, it never blocks the tiles.
SIGN_IN_OPEN = "() => document.getElementById('login').open"
NO_MODAL = "() => document.querySelector('dialog:modal') === null"


def _admin(api: DemoApi) -> dict[str, str]:
    r = httpx.post(
        f"{api.url}/api/auth/login", json={"username": "admin", "password": "admin-demo-pass"}
    )
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _fire(api: DemoApi, camera: str, at: float) -> None:
    event = Event.model_validate(
        {"event_type": "fire", "camera_id": camera, "occurred_at": at, "score": 0.9}
    )
    r = redis.Redis.from_url(api.redis_url)
    try:
        r.xadd(EVENTS_STREAM, event.to_stream_fields())  # type: ignore[arg-type]
    finally:
        r.close()


def test_the_wall_outlives_its_tokens_without_a_dialog(demo_api: DemoApi) -> None:
    with open_wall(demo_api.url, *FORESTRY) as page:
        wait_for(page, LIVE)
        tokens = [page.evaluate(TOKEN)]
        started = time.monotonic()
        # Past two token lifetimes: each renewed ahead of its expiry, silently.
        while time.monotonic() - started < 2.5 * DEMO_TOKEN_TTL_S:
            page.wait_for_timeout(500)
            token = page.evaluate(TOKEN)
            if token != tokens[-1]:
                tokens.append(token)
            assert not page.evaluate(SIGN_IN_OPEN), "a sign-in opened during the session"
        assert len(tokens) >= 3
        assert page.evaluate(NO_MODAL) and page.evaluate(LIVE)
        # The API answers the wall, and the alarm socket opened with the first (long expired)
        # token still delivers.
        page.evaluate("window.sharpeye.catalog.load()")
        _fire(demo_api, "forest-lookout-1", time.time())
        page.wait_for_selector("#alarm-list .alarm[data-camera='forest-lookout-1']")
        assert not page.evaluate(SIGN_IN_OPEN)
        # A hidden then shown tab (a locked screen) renews when due, still without a dialog.
        page.evaluate("sessionStorage.setItem('sharpeye.renew_at', '0')")
        page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
        wait_for(page, f"before => {TOKEN} !== before", tokens[-1])
        refresh = page.evaluate("sessionStorage.getItem('sharpeye.refresh_token')")
        seen = [*tokens, page.evaluate(TOKEN), refresh]
    log = demo_api.log.read_text()
    # The log has the wall's traffic (sockets, renewals) and none of its credentials.
    assert "WebSocket /api/alarms/live" in log
    assert "/api/auth/refresh" in log
    for secret in seen:
        assert secret and secret not in log
    assert "token=" not in log


@pytest.mark.parametrize("how", ["revoke", "deactivate"])
def test_a_revoked_or_deactivated_wall_stops(demo_api: DemoApi, how: str) -> None:
    with open_wall(demo_api.url, *FORESTRY) as page:
        wait_for(page, LIVE)
        # Logged in now, not before the wall: a loaded machine may take the fixture's short
        # token lifetime to bring the wall up.
        admin = _admin(demo_api)
        renewals: list[int] = []
        page.on(
            "response",
            lambda r: renewals.append(r.status) if r.url.endswith("/api/auth/refresh") else None,
        )
        if how == "revoke":
            sessions = httpx.get(f"{demo_api.url}/api/auth/sessions", headers=admin).json()
            mine = next(s for s in sessions if s["user"] == "forestry" and not s["revoked_at"])
            r = httpx.delete(f"{demo_api.url}/api/auth/sessions/{mine['id']}", headers=admin)
        else:
            users = httpx.get(f"{demo_api.url}/api/users", headers=admin).json()
            forestry = next(u["id"] for u in users if u["username"] == "forestry")
            r = httpx.patch(
                f"{demo_api.url}/api/users/{forestry}", json={"active": False}, headers=admin
            )
        assert r.status_code in (200, 204)
        # The sockets are closed by the API; the wall's renewal is refused and it stops.
        wait_for(page, "() => !document.getElementById('live-state').classList.contains('online')")
        wait_for(page, SIGN_IN_OPEN)
        assert page.evaluate(NO_MODAL)
        assert page.evaluate("sessionStorage.getItem('sharpeye.refresh_token')") is None
        assert "Signed out" in page.inner_text("#banner")
        refused = list(renewals)
        assert refused and all(status == 401 for status in refused)
        # Nothing more: no renewals, no reconnected socket, for over a token's lifetime.
        page.wait_for_timeout(DEMO_TOKEN_TTL_S * 1000 + 1000)
        assert renewals == refused
        assert not page.evaluate(LIVE)
