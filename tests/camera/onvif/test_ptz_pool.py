"""The PTZ session pool against the simulated dome: reuse, eviction of a stale session,
idle expiry, and a request error that keeps the session."""

from __future__ import annotations

import pytest

from camera.onvif.errors import OnvifAuthError, OnvifPresetError, OnvifUnreachable
from camera.onvif.ptz_pool import PtzPool
from sharpeye.simulate.onvif_peer import start_onvif_devices
from tests.camera.onvif.conftest import PASSWORD, USER, device
from tests.fixtures_fleet import free_port

pytestmark = pytest.mark.integration
HOST = "127.0.0.1"


async def test_commands_reuse_one_session_until_the_device_goes_away() -> None:
    port = free_port()
    pool = PtzPool(timeout=2.0)
    peer = start_onvif_devices([device("dome", ptz=True, port=port)])
    try:
        for step in (0.1, 0.2, 0.3):
            async with pool.session(HOST, port, USER, PASSWORD) as ptz:
                await ptz.relative_move(pan=0.1)
                assert (await ptz.status()).pan == pytest.approx(step)
        # A refusal about the request keeps the session.
        with pytest.raises(OnvifPresetError):
            async with pool.session(HOST, port, USER, PASSWORD) as ptz:
                await ptz.goto_preset("no-such-preset")
        assert pool.opened == 1

        peer.stop()  # the device restarts: the open session is stale
        with pytest.raises(OnvifUnreachable):
            async with pool.session(HOST, port, USER, PASSWORD) as ptz:
                await ptz.status()
        peer = start_onvif_devices([device("dome", ptz=True, port=port)])
        async with pool.session(HOST, port, USER, PASSWORD) as ptz:
            assert (await ptz.status()).pan == 0.0  # the new device, through a new session
        assert pool.opened == 2
    finally:
        peer.stop()
        await pool.close()


async def test_idle_sessions_close_and_logins_do_not_share() -> None:
    peer = start_onvif_devices([device("dome", ptz=True)])
    port = peer.devices[0].port
    pool = PtzPool(idle_s=0.0)  # every session is idle by the next request
    try:
        for _ in range(2):
            async with pool.session(HOST, port, USER, PASSWORD) as ptz:
                await ptz.status()
        assert pool.opened == 2
        pool.idle_s = 60.0
        async with pool.session(HOST, port, USER, PASSWORD) as ptz:
            await ptz.status()
        assert pool.opened == 2  # within idle_s: the last one again
        # Another login to the same device is another session, which the device refuses.
        with pytest.raises(OnvifAuthError):
            async with pool.session(HOST, port, USER, "wrong-password") as ptz:
                await ptz.status()
        assert pool.opened == 2
    finally:
        peer.stop()
        await pool.close()
