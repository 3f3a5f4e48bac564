"""PTZ: onvif-zeep-async (`camera.onvif.ptz`) against the simulated device's PTZ service."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import zeep.exceptions

from camera.onvif.client import ONVIFCamera
from camera.onvif.errors import (
    OnvifAuthError,
    OnvifNoPtzError,
    OnvifPresetError,
    OnvifUnreachable,
)
from camera.onvif.ptz import PTZ_NS, open_ptz
from sharpeye.simulate.onvif_peer import OnvifPeer, registry_devices, start_onvif_devices
from tests.camera.onvif.conftest import PASSWORD, USER, device

pytestmark = pytest.mark.integration
HOST = "127.0.0.1"


@pytest.fixture
def ptz_peer() -> Iterator[OnvifPeer]:
    """A PTZ dome and a fixed camera, each on a free loopback port."""
    peer = start_onvif_devices([device("dome", ptz=True), device("fixed")])
    try:
        yield peer
    finally:
        peer.stop()


async def test_a_continuous_move_turns_the_camera_and_stops(ptz_peer: OnvifPeer) -> None:
    dome = ptz_peer.devices[0]
    async with open_ptz(HOST, dome.port, USER, PASSWORD) as ptz:
        assert ptz.profile == "Profile_Main"
        start = await ptz.status()
        assert (start.pan, start.tilt, start.zoom, start.moving) == (0.0, 0.0, 0.0, False)
        stopped = await ptz.move_for(pan=0.5, tilt=-0.5, zoom=0.5, duration_s=0.3)
        assert stopped.pan is not None and stopped.pan > 0
        assert stopped.tilt is not None and stopped.tilt < 0
        assert stopped.zoom is not None and stopped.zoom > 0
        assert not stopped.moving
        # What the client read is the device's own state.
        assert dome.ptz is not None
        assert dome.ptz.position() == pytest.approx(
            (stopped.pan, stopped.tilt, stopped.zoom), abs=1e-5
        )


async def test_a_relative_move_steps_and_home_returns(ptz_peer: OnvifPeer) -> None:
    dome = ptz_peer.devices[0]
    assert dome.ptz is not None
    async with open_ptz(HOST, dome.port, USER, PASSWORD) as ptz:
        await ptz.relative_move(pan=-0.2, tilt=0.1, zoom=0.25)
        assert dome.ptz.position() == pytest.approx((-0.2, 0.1, 0.25))
        await ptz.relative_move(pan=-0.2)
        position = await ptz.status()
        assert (position.pan, position.tilt, position.zoom) == pytest.approx((-0.4, 0.1, 0.25))
        await ptz.goto_home()
        assert dome.ptz.position() == (0.0, 0.0, 0.0)


async def test_presets_are_saved_and_recalled(ptz_peer: OnvifPeer) -> None:
    dome = ptz_peer.devices[0]
    assert dome.ptz is not None
    async with open_ptz(HOST, dome.port, USER, PASSWORD) as ptz:
        assert [(p.token, p.name) for p in await ptz.presets()] == [("home", "Home")]
        await ptz.relative_move(pan=0.3, tilt=-0.1, zoom=0.5)
        token = await ptz.set_preset("Gate 校门")
        await ptz.goto_home()
        assert dome.ptz.position() == (0.0, 0.0, 0.0)

        await ptz.goto_preset(token)
        assert dome.ptz.position() == pytest.approx((0.3, -0.1, 0.5))
        assert {(p.token, p.name) for p in await ptz.presets()} == {
            ("home", "Home"),
            (token, "Gate 校门"),
        }
        # Saving under an existing token moves that preset.
        await ptz.relative_move(pan=0.1)
        assert await ptz.set_preset("Gate 校门", token=token) == token
        await ptz.goto_home()
        await ptz.goto_preset(token)
        assert dome.ptz.position() == pytest.approx((0.4, -0.1, 0.5))

        with pytest.raises(OnvifPresetError) as info:
            await ptz.goto_preset("no-such-preset")
        assert str(info.value) == f"ONVIF device 127.0.0.1:{dome.port} has no PTZ preset " + (
            "'no-such-preset'"
        )


async def test_a_camera_without_ptz_says_so(ptz_peer: OnvifPeer) -> None:
    fixed = ptz_peer.devices[1]
    with pytest.raises(OnvifNoPtzError) as info:
        async with open_ptz(HOST, fixed.port, USER, PASSWORD):
            pass
    assert str(info.value) == f"ONVIF device 127.0.0.1:{fixed.port} has no PTZ service"

    # A client that tries anyway (a guessed XAddr) is refused, not answered with canned data.
    cam = ONVIFCamera(HOST, fixed.port, USER, PASSWORD, no_cache=True, adjust_time=True)
    try:
        await cam.update_xaddrs()
        assert PTZ_NS not in cam.xaddrs
        cam.xaddrs[PTZ_NS] = f"http://{HOST}:{fixed.port}/onvif/ptz_service"
        service = await cam.create_ptz_service()
        with pytest.raises(zeep.exceptions.Fault) as fault:
            await service.GetNodes()
        codes = [q.localname for q in fault.value.subcodes or []]
        assert codes == ["ActionNotSupported"]
    finally:
        await cam.close()


async def test_wrong_password_is_a_clear_error_without_the_password(
    ptz_peer: OnvifPeer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    port = ptz_peer.devices[0].port
    wrong = PASSWORD + "-typo"
    with pytest.raises(OnvifAuthError) as info:
        async with open_ptz(HOST, port, USER, wrong):
            pass
    assert str(info.value).startswith(
        f"ONVIF device 127.0.0.1:{port} refused the credentials for user '{USER}'"
    )
    assert info.value.__cause__ is None
    for text in (str(info.value), repr(info.value), caplog.text):
        assert PASSWORD not in text


async def test_an_unreachable_device_is_named(closed_port: int) -> None:
    with pytest.raises(OnvifUnreachable) as info:
        async with open_ptz(HOST, closed_port, USER, PASSWORD, timeout=2):
            pass
    assert f"127.0.0.1:{closed_port} is unreachable (connection refused)" in str(info.value)


def test_registry_cameras_tagged_ptz_are_simulated_as_ptz_domes(tmp_path: Path) -> None:
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        "cameras:\n"
        "  - {id: dome, tags: [ptz, boats], onvif: {host: 127.0.0.1, port: 8101}}\n"
        "  - {id: fixed, tags: [boats], onvif: {host: 127.0.0.1, port: 8102}}\n",
        encoding="utf-8",
    )
    devices = {d.name: d.ptz for d in registry_devices(registry, 8100, 8554)}
    assert devices == {"dome": True, "fixed": False}
