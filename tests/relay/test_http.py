"""The WHEP resource's HTTP surface: CORS preflight, OPTIONS, DELETE, PATCH, bad input."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from relay.whep_client import WhepViewer
from tests.fixtures_fleet import Fleet
from tests.relay.fixtures_relay import RelayHandle

pytestmark = pytest.mark.integration


async def test_whep_http_surface(
    fleet_factory: Callable[..., Fleet], relay_factory: Callable[..., RelayHandle]
) -> None:
    fleet = fleet_factory(cameras=1, clip="vtest-360p")
    relay = relay_factory(fleet)
    url = relay.whep("cam1")
    async with httpx.AsyncClient(timeout=10) as client:
        # A wall on another origin: the preflight allows the headers WHEP needs.
        pre = await client.options(
            url,
            headers={
                "Origin": "http://wall.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert pre.status_code == 200
        assert "authorization" in pre.headers["access-control-allow-headers"].lower()
        plain = await client.options(url)
        assert plain.status_code == 204 and plain.headers["accept-post"] == "application/sdp"
        wrong_type = await client.post(
            url, content="v=0", headers={"Authorization": f"Bearer {relay.token('cam1')}"}
        )
        assert wrong_type.status_code == 415
        unknown = await client.post(
            relay.whep("nope"),
            content="v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n",
            headers={
                "Authorization": f"Bearer {relay.token('nope')}",
                "Content-Type": "application/sdp",
            },
        )
        assert unknown.status_code == 404

        viewer = WhepViewer(url, relay.token("cam1"))
        await viewer.start()
        assert viewer.session_url is not None
        session = viewer.session_url
        patch = await client.patch(session, content="a=end-of-candidates")
        assert patch.status_code == 405
        # DELETE needs a token for the session's camera, like every WHEP request.
        other = await client.delete(
            session, headers={"Authorization": f"Bearer {relay.token('edu-1', 'edu')}"}
        )
        assert other.status_code == 403
        exposed = await client.post(
            url,
            content=viewer.pc.localDescription.sdp,
            headers={
                "Origin": "http://wall.example",
                "Authorization": f"Bearer {relay.token('cam1')}",
                "Content-Type": "application/sdp",
            },
        )
        assert exposed.status_code == 201
        assert "location" in exposed.headers["access-control-expose-headers"].lower()
        await viewer.stop()  # DELETE with its token
        assert (await client.delete(session)).status_code == 404
