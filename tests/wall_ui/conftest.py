"""The wall in headless Chromium (Debian's, driven by Playwright) against real services:
a fleet of 16 cameras, Redis, the command API and the relay, each on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

# One list of the verified headless-Chromium flags, shared with the shift harness's walls.
from benchmarks.shift_walls import CHROMIUM, CHROMIUM_ARGS
from sharpeye.relay_settings import get_relay_settings
from sharpeye.settings import Settings
from sharpeye.tokens import signer_for
from tests.fixtures_fleet import Fleet, free_port
from tests.relay.fixtures_relay import RelayHandle, start_relay

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CAMERAS = 16
# The first administrator of the test API (SHARPEYE_BOOTSTRAP_ADMIN): department police.
USER, PASSWORD = "wall-admin", "wall-admin-pass"


def wall_registry(fleet: Fleet, cameras: int, h265_port: int) -> str:
    lines = [
        "version: 1",
        "district: {id: t, name: Wall Test District}",
        "departments:",
        "  - {id: police, name: Police, kind: police}",
        "groups:",
        "  - {id: square, name: Central Square, department: police}",
        "  - {id: port, name: Fishing Port, department: police}",
        "cameras:",
    ]
    for i in range(1, cameras + 1):
        url = fleet.url(f"/sim/{fleet.clip}/cam{i:04d}")
        group = "square" if i <= cameras // 2 else "port"
        lines += [
            f"  - id: cam{i}",
            f"    name: Camera {i}",
            "    department: police",
            f"    groups: [{group}]",
            f"    location: {{lat: {31.80 + i * 0.002:.4f}, lon: {117.20 + (i % 5) * 0.003:.4f}}}",
            f"    streams: {{main: '{url}', sub: '{url}'}}",
        ]
    lines += [
        "  - id: hevc-1",
        "    name: H.265 camera",
        "    department: police",
        "    location: {lat: 31.79, lon: 117.19}",
        f"    streams: {{main: 'rtsp://127.0.0.1:{h265_port}/live'}}",
    ]
    return "\n".join(lines) + "\n"


@dataclass
class Stack:
    api_url: str
    relay: RelayHandle
    redis_url: str
    fleet: Fleet


def serve_in_thread(app: Any) -> tuple[str, Callable[[], None]]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(20)

    return f"http://127.0.0.1:{port}", stop


@pytest.fixture
def stack(
    fleet_factory: Callable[..., Fleet],
    h265_camera: int,
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Stack]:
    from command_api.app import create_app
    from sharpeye.registry import load_registry

    fleet = fleet_factory(cameras=CAMERAS, clip="vtest-360p")
    registry_file = tmp_path / "camera_registry.yaml"
    registry_file.write_text(wall_registry(fleet, CAMERAS, h265_camera))
    relay = start_relay(load_registry(registry_file), tmp_path, signer=signer_for(tmp_path))
    monkeypatch.setenv("SHARPEYE_RELAY_PUBLIC_URL", relay.url)
    monkeypatch.setenv("SHARPEYE_BOOTSTRAP_ADMIN", f"{USER}:{PASSWORD}")
    get_relay_settings.cache_clear()
    settings = Settings.model_validate(
        {"SHARPEYE_REGISTRY": registry_file, "SHARPEYE_DATA_DIR": tmp_path, "REDIS_URL": redis_url}
    )
    api_url, stop_api = serve_in_thread(create_app(settings))
    try:
        yield Stack(api_url, relay, redis_url, fleet)
    finally:
        stop_api()
        relay.stop()
        get_relay_settings.cache_clear()


@contextlib.contextmanager
def open_wall(api_url: str, user: str = USER, password: str = PASSWORD) -> Iterator[Any]:
    """A logged-in wall page in headless Chromium; fails the test on any page error."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (scripts/install-system.sh)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{api_url}/?empty")
        # The wall asks for a login at its first API call (the API requires one).
        page.fill("#login input[name=username]", user)
        page.fill("#login input[name=password]", password)
        page.click("#login button[type=submit]")
        page.wait_for_function("window.sharpeye !== undefined")
        page.evaluate("window.sharpeye.ready")
        try:
            yield page
        finally:
            context.close()
            browser.close()
        assert not errors, f"errors in the page: {errors}"


@pytest.fixture
def page(stack: Stack) -> Iterator[Any]:
    with open_wall(stack.api_url) as page:
        yield page


@dataclass
class DemoApi:
    """A real `sharpeye api` process on the demo registry and users (no cameras or relay:
    for the wall's session, alarms and tours), logging to `log`."""

    url: str
    redis_url: str
    log: Path


# Short enough that a test sees several renewals, long enough for a loaded machine.
DEMO_TOKEN_TTL_S = 8


@pytest.fixture
def demo_api(tmp_path: Path, redis_url: str) -> Iterator[DemoApi]:
    from command_api.auth.seed import seed_demo
    from tests.command_api.harness import DEMO_REGISTRY, running_api

    shutil.copy(DEMO_REGISTRY, tmp_path / "camera_registry.yaml")
    seed_demo(
        Settings.model_validate(
            {
                "SHARPEYE_REGISTRY": tmp_path / "camera_registry.yaml",
                "SHARPEYE_DATA_DIR": tmp_path / "data",
            }
        )
    )
    env = {
        "SHARPEYE_TOKEN_TTL_S": str(DEMO_TOKEN_TTL_S),
        "SHARPEYE_SESSION_RECHECK_S": "0.5",
        # Request lines too, so the no-token-in-the-log check reads what a debugging
        # operator would have.
        "SHARPEYE_LOG_LEVELS": "uvicorn.access=info",
        "SHARPEYE_LOG_FORMAT": "json",
    }
    with running_api(tmp_path, redis_url, **env) as port:
        yield DemoApi(f"http://127.0.0.1:{port}", redis_url, tmp_path / "api.log")
