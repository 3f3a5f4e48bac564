"""PTZ on the wall: a tile of a PTZ camera steers the simulated ONVIF device it belongs to."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sharpeye.relay_settings import get_relay_settings
from sharpeye.settings import Settings
from sharpeye.simulate.onvif_peer import OnvifDeviceConfig, RunningDevice, start_onvif_devices
from sharpeye.tokens import signer_for
from tests.fixtures_fleet import Fleet
from tests.relay.fixtures_relay import start_relay
from tests.wall_ui.conftest import ARTIFACTS, PASSWORD, USER, open_wall, serve_in_thread

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOME_PASSWORD = "Wall-Ptz-9!secret"

REGISTRY = """\
version: 1
district: {{id: t, name: PTZ Test District}}
departments:
  - {{id: police, name: Police, kind: police}}
cameras:
  - id: dome-1
    name: Dome at the gate
    department: police
    location: {{lat: 31.8, lon: 117.2}}
    streams: {{main: '{url}', sub: '{url}'}}
    onvif:
      host: 127.0.0.1
      port: {port}
      credentials: {{username: admin, password_env: SHARPEYE_TEST_DOME_PASSWORD}}
  - id: fixed-1
    name: Fixed camera
    department: police
    location: {{lat: 31.81, lon: 117.21}}
    streams: {{main: '{url}', sub: '{url}'}}
"""


@pytest.fixture
def ptz_wall(
    fleet_factory: Callable[..., Fleet],
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[str, RunningDevice]]:
    """(the API's URL, the PTZ dome's simulated device) with one camera's footage."""
    from command_api.app import create_app
    from sharpeye.registry import load_registry

    fleet = fleet_factory(cameras=1, clip="vtest-360p")
    url = fleet.url("/sim/vtest-360p/cam0001")
    dome = OnvifDeviceConfig(
        name="dome-1", port=0, username="admin", password=DOME_PASSWORD, rtsp_main=url, ptz=True
    )
    with start_onvif_devices([dome]) as peer:
        registry_file = tmp_path / "camera_registry.yaml"
        registry_file.write_text(REGISTRY.format(url=url, port=peer.devices[0].port))
        relay = start_relay(load_registry(registry_file), tmp_path, signer=signer_for(tmp_path))
        monkeypatch.setenv("SHARPEYE_TEST_DOME_PASSWORD", DOME_PASSWORD)
        monkeypatch.setenv("SHARPEYE_RELAY_PUBLIC_URL", relay.url)
        monkeypatch.setenv("SHARPEYE_BOOTSTRAP_ADMIN", f"{USER}:{PASSWORD}")
        get_relay_settings.cache_clear()
        settings = Settings.model_validate(
            {
                "SHARPEYE_REGISTRY": registry_file,
                "SHARPEYE_DATA_DIR": tmp_path,
                "REDIS_URL": redis_url,
            }
        )
        api_url, stop_api = serve_in_thread(create_app(settings))
        try:
            yield api_url, peer.devices[0]
        finally:
            stop_api()
            relay.stop()
            get_relay_settings.cache_clear()


def _until(check: Callable[[], bool], what: str, limit_s: float = 20.0) -> None:
    deadline = time.monotonic() + limit_s  # a hang guard, not a timing assertion
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_tile_buttons_steer_the_ptz_camera(ptz_wall: tuple[str, RunningDevice]) -> None:
    api_url, dome = ptz_wall
    ptz = dome.ptz
    assert ptz is not None
    with open_wall(api_url) as page:
        page.evaluate("window.sharpeye.setLayout('4')")
        page.evaluate("window.sharpeye.assign(0, 'dome-1'); window.sharpeye.assign(1, 'fixed-1')")
        tile = "#wall .tile >> nth=0"
        page.click(tile)  # the selected tile shows its controls
        controls = page.locator(f"{tile} >> .ptz")
        controls.wait_for(state="visible")

        # A held button keeps the camera turning past the device's own timeout (the wall
        # renews the move), and release stops it: `busy` lasts from press to stopped.
        idle = "!document.querySelector('#wall .tile .ptz').classList.contains('busy')"
        page.hover(f"{tile} >> [data-ptz=pan-right]")
        page.mouse.down()
        _until(lambda: ptz.position()[0] > 0.05, "the dome to start panning")
        page.wait_for_timeout(1500)  # longer than the 1 s the device moves unrenewed
        during = ptz.position()[0]
        page.wait_for_timeout(600)
        assert ptz.position()[0] > during, "the held move ran out: not renewed"
        page.mouse.up()
        page.wait_for_function(idle)
        stopped = ptz.position()
        page.wait_for_timeout(500)
        assert ptz.position() == stopped, "still moving after release"
        assert stopped[0] > 0 and stopped[1] == 0

        # From the keyboard there is no press to hold: activation moves for a moment.
        page.focus(f"{tile} >> [data-ptz=zoom-in]")
        page.keyboard.press("Enter")
        _until(lambda: ptz.position()[2] > 0, "the dome to zoom in")
        page.wait_for_function(idle)
        saved = ptz.position()
        assert saved[0] > 0 and saved[1] == 0 and saved[2] > 0
        status = page.locator(f"{tile} >> .ptz-status").inner_text()
        assert status == f"P {saved[0]:.2f} T 0.00 Z {saved[2]:.2f}"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "wall-ptz.png"))

        # Save here as a preset (named in a prompt), go home, then back through the dropdown.
        page.once("dialog", lambda dialog: dialog.accept("Gate"))
        page.click(f"{tile} >> .ptz-save")
        presets = page.locator(f"{tile} >> .ptz-presets")
        page.wait_for_function(
            "[...document.querySelectorAll('#wall .tile .ptz-presets option')]"
            ".some(o => o.textContent === 'Gate')"
        )
        page.click(f"{tile} >> [data-ptz=home]")
        _until(lambda: ptz.position() == (0.0, 0.0, 0.0), "the dome to go home")
        presets.select_option(label="Gate")
        _until(lambda: ptz.position() == pytest.approx(saved), "the dome to reach the preset")

        # A camera without ONVIF PTZ gets no controls, selected or not.
        page.click("#wall .tile >> nth=1")
        page.wait_for_timeout(500)
        assert not page.locator("#wall .tile >> nth=1 >> .ptz").is_visible()
