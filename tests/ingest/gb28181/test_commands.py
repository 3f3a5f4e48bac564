"""`sharpeye gb28181` as a process (serve until SIGINT) and `sharpeye gb28181 status`
(table and JSON) reading what it stored on Redis; a registry without the section refused."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from camera.gb28181 import manscdp
from camera.gb28181.manscdp import CatalogItem
from tests.ingest.gb28181.conftest import PASSWORD_ENV, PyDevice, first_request, until
from tests.ingest.gb28181.sipp import DEVICE_ID, PASSWORD, PLATFORM_ID, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REGISTRY = """\
version: 1
district: {{id: demo, name: Demo District}}
cameras: []
gb28181:
  platform_id: "{platform}"
  listen: {{host: 127.0.0.1, port: {port}}}
  keepalive_interval_s: 5
  devices:
    - {{id: "{device}", name: 西门 NVR, password: {{password_env: {env}}}}}
"""


def cli_env(tmp_path: Path, redis_url: str, registry: Path) -> dict[str, str]:
    return os.environ | {
        "REDIS_URL": redis_url,
        "SHARPEYE_REGISTRY": str(registry),
        "SHARPEYE_DATA_DIR": str(tmp_path / "data"),
        "SHARPEYE_LOG_FORMAT": "text",
        PASSWORD_ENV: PASSWORD,
    }


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sharpeye.cli", "gb28181", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_serve_and_status(tmp_path: Path, redis_url: str) -> None:
    port = free_port()
    registry = tmp_path / "registry.yaml"
    registry.write_text(
        REGISTRY.format(platform=PLATFORM_ID, port=port, device=DEVICE_ID, env=PASSWORD_ENV),
        encoding="utf-8",
    )
    env = cli_env(tmp_path, redis_url, registry)
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sharpeye.cli",
        "gb28181",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with PyDevice(port) as device:

            async def registered() -> bool | None:
                try:
                    response = await device.register()
                except (TimeoutError, ConnectionError):
                    return None  # still starting
                return True if response.status == 200 else None

            await until(registered, "the service to accept the device", 30)
            query = await until(lambda: first_request(device), "the catalog query", 10)
            parsed = manscdp.parse(query.body)
            item = CatalogItem("34020000001310000001", "西门广场", "camera", status="ON")
            body = manscdp.catalog_response(parsed.sn, DEVICE_ID, 1, [item])
            assert (await device.message(body)).status == 200
            assert (await device.message(manscdp.keepalive(1, DEVICE_ID))).status == 200

        listed = await asyncio.to_thread(cli, "status", "--json", env=env)
        assert listed.returncode == 0, listed.stderr
        (row,) = json.loads(listed.stdout)
        assert row["device_id"] == DEVICE_ID
        assert row["name"] == "西门 NVR"
        assert row["state"] == "online"
        assert row["keepalive_age_s"] is not None and row["keepalive_age_s"] < 30
        assert [c["name"] for c in row["channels"]] == ["西门广场"]
        assert PASSWORD not in listed.stdout

        shown = await asyncio.to_thread(cli, "status", env=env | {"COLUMNS": "200"})
        assert shown.returncode == 0, shown.stderr
        for text in (DEVICE_ID, "西门 NVR", "online", "1/1", "34020000001310000001", "西门广场"):
            assert text in shown.stdout
    finally:
        if server.returncode is None:
            server.send_signal(signal.SIGINT)
        rc = await asyncio.wait_for(server.wait(), 20)
        output = (await server.stdout.read()).decode() if server.stdout else ""
    assert rc == 0, output
    assert "registered" in output and "stopped" in output
    assert PASSWORD not in output


def test_serve_refuses_a_registry_without_the_section(tmp_path: Path, redis_url: str) -> None:
    registry = tmp_path / "registry.yaml"
    registry.write_text("version: 1\ndistrict: {id: demo, name: Demo}\ncameras: []\n")
    done = cli(env=cli_env(tmp_path, redis_url, registry))
    assert done.returncode == 2
    assert "has no gb28181: section" in done.stderr
