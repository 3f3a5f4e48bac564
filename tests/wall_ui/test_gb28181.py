"""A GB/T 28181 camera on the wall (issue 14), in headless Chromium, every peer real and on
127.0.0.1: `sharpeye gb28181` as a process, SIPp registering to it as the device (Digest)
and answering the INVITE by streaming real footage as PS over RTP, the relay asking that
service over Redis for a call of its own, and the command API serving the wall. The tile
plays the channel with frames advancing; when the tile is cleared the relay's upstream
closes and the device gets the BYE (SIPp's own trace, answered 200).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from sharpeye.bus.gb28181 import read_devices_sync
from sharpeye.registry import load_registry
from sharpeye.relay_settings import get_relay_settings
from sharpeye.settings import Settings
from sharpeye.tokens import signer_for
from tests.fixtures_gb28181 import gb_registry
from tests.ingest.gb28181.conftest import PASSWORD_ENV
from tests.ingest.gb28181.sipp import DEVICE_ID, PASSWORD, sipp_command
from tests.ingest.gb28181.sipp import free_port as free_sip_port
from tests.ingest.gb28181.test_play import CLIP, ROOT, SENDER, free_udp_port
from tests.relay.fixtures_relay import RelayHandle, start_relay
from tests.wall_ui.conftest import ARTIFACTS, USER, open_wall, serve_in_thread
from tests.wall_ui.conftest import PASSWORD as WALL_PASSWORD
from tests.wall_ui.test_wall import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CAMERA = "east-gate-gb"
HOLD_S = 150  # the device stays registered this long: past the test
TILE = "async () => (await window.sharpeye.stats())[0]"


@dataclass
class GbWall:
    api_url: str
    relay: RelayHandle
    sipp_logs: Path

    def sipp_trace(self) -> str:
        path = self.sipp_logs / "messages.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _wait(condition: Callable[[], bool], what: str, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def gb_wall(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[GbWall]:
    if not CLIP.exists():
        pytest.skip("footage not prepared (sharpeye footage prepare)")
    sip_port = free_sip_port()
    registry = tmp_path / "camera_registry.yaml"
    registry.write_text(gb_registry(CAMERA, sip_port=sip_port), encoding="utf-8")
    env = os.environ | {
        "REDIS_URL": redis_url,
        "SHARPEYE_REGISTRY": str(registry),
        "SHARPEYE_DATA_DIR": str(tmp_path / "gb-data"),
        "SHARPEYE_LOG_FORMAT": "text",
        PASSWORD_ENV: PASSWORD,
    }
    service_log = tmp_path / "gb28181.log"
    with service_log.open("wb") as out:
        service = subprocess.Popen(
            [sys.executable, "-m", "sharpeye.cli", "gb28181"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    sipp: subprocess.Popen[bytes] | None = None
    relay: RelayHandle | None = None
    stop_api = None
    r = redis.Redis.from_url(redis_url)
    try:
        _wait(lambda: b"serving" in service_log.read_bytes(), "sharpeye gb28181 to serve", 60)
        sender = f"{sys.executable} {SENDER} --clip {CLIP} --frames 1900 --speed 1"
        logs = tmp_path / "sipp"
        command = sipp_command(
            "play_device.xml",
            sip_port,
            logs,
            variables={
                "hold_ms": str(HOLD_S * 1000),
                "src_port": str(free_udp_port()),
                "mproto": "RTP/AVP",
                "setup": "sendonly",
                "mt": "udp",
                "sender": f"cd {ROOT} && PYTHONPATH={ROOT} {sender}",
            },
            timeout_s=HOLD_S + 30,
            ooc="play_answer.xml",
            trace_messages=True,
        )
        sipp = subprocess.Popen(
            command,
            cwd=logs,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def online() -> bool:
            device = read_devices_sync(r).get(DEVICE_ID)
            return device is not None and device.state == "online"

        _wait(online, "the SIPp device registered", 30)
        relay = start_relay(
            load_registry(registry),
            tmp_path,
            signer=signer_for(tmp_path),  # the key file the API reads too
            settings={"REDIS_URL": redis_url},
            SHARPEYE_RELAY_IDLE_S=1,
        )
        monkeypatch.setenv("SHARPEYE_RELAY_PUBLIC_URL", relay.url)
        monkeypatch.setenv("SHARPEYE_BOOTSTRAP_ADMIN", f"{USER}:{WALL_PASSWORD}")
        get_relay_settings.cache_clear()
        from command_api.app import create_app

        settings = Settings.model_validate(
            {"SHARPEYE_REGISTRY": registry, "SHARPEYE_DATA_DIR": tmp_path, "REDIS_URL": redis_url}
        )
        api_url, stop_api = serve_in_thread(create_app(settings))
        yield GbWall(api_url, relay, logs)
    finally:
        if stop_api is not None:
            stop_api()
        if relay is not None:
            relay.stop()
        for process in (sipp, service):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        r.close()
        get_relay_settings.cache_clear()


def test_a_gb28181_camera_plays_in_a_tile_and_its_call_ends_with_the_tile(
    gb_wall: GbWall,
) -> None:
    with open_wall(gb_wall.api_url) as page:
        page.evaluate("window.sharpeye.setLayout('4')")
        assigned = time.monotonic()
        page.evaluate(f"window.sharpeye.assign(0, '{CAMERA}')")
        first = wait_for(
            page,
            f"async () => {{ const t = await ({TILE})();"
            " return t.state === 'playing' && t.framesDecoded > 0 && t; }",
            timeout=45,
        )
        ttff = time.monotonic() - assigned
        # Frames advancing, at about the device's 25 fps (the browser's own count).
        sampled = time.monotonic()
        page.wait_for_timeout(4000)
        later = page.evaluate(f"async () => await ({TILE})()")
        rate = (later["framesDecoded"] - first["framesDecoded"]) / (time.monotonic() - sampled)
        print(f"GB on the wall: first frame {ttff:.1f} s after assign, ~{rate:.1f} frames/s")
        assert later["state"] == "playing" and later["camera"] == CAMERA
        assert later["framesDecoded"] > first["framesDecoded"] + 40, (first, later)
        upstream = gb_wall.relay.upstream(CAMERA)
        assert upstream is not None and upstream.reader == "gb28181"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "wall-gb28181-tile.png"))

        # The operator clears the tile: the view ends, the upstream closes after its idle
        # second, and the device gets the BYE.
        assert "BYE sip:" not in gb_wall.sipp_trace()
        page.evaluate("window.sharpeye.wall.clear()")
        _wait(lambda: gb_wall.relay.upstream(CAMERA) is None, "the upstream to close", 20)
        # In SIPp's trace: the BYE received, then its 200 sent (the CSeq line of each).
        _wait(lambda: len(_bye_cseqs(gb_wall.sipp_trace())) >= 2, "SIPp to answer a BYE", 20)
        trace = gb_wall.sipp_trace()
        assert len(re.findall(r"^BYE sip:", trace, re.MULTILINE)) == 1, trace[-2000:]


def _bye_cseqs(trace: str) -> list[str]:
    return re.findall(r"^CSeq: *\d+ BYE", trace, re.MULTILINE | re.IGNORECASE)
