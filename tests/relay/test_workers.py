"""Relay workers: cameras shared out among processes, each camera on exactly one of them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from relay.ice import use_host_addresses
from relay.whep_client import WhepViewer
from sharpeye.relay_settings import RelaySettings
from sharpeye.tokens import TokenSigner
from tests.fixtures_fleet import REPO, Fleet, child_pids, free_port, pid_alive

SECRET = "workers-test-secret-0123456789"


def settings(**values: object) -> RelaySettings:
    return RelaySettings.model_validate({k: str(v) for k, v in values.items()})


def test_cameras_map_to_one_worker_each_stably() -> None:
    rs = settings(SHARPEYE_RELAY_PORT=9000, SHARPEYE_RELAY_WORKERS=4)
    shards = {f"cam{i}": rs.shard(f"cam{i}") for i in range(200)}
    assert set(shards.values()) == {0, 1, 2, 3}
    assert all(rs.shard(c) == s for c, s in shards.items())  # crc32: same in every process
    assert rs.whep_url("cam7", "sub") == f"http://127.0.0.1:{9000 + shards['cam7']}/whep/cam7/sub"
    single = settings(SHARPEYE_RELAY_PORT=9000)
    assert single.whep_url("cam7", "main") == "http://127.0.0.1:9000/whep/cam7/main"


def test_public_url_may_name_the_worker() -> None:
    rs = settings(
        SHARPEYE_RELAY_WORKERS=2, SHARPEYE_RELAY_PUBLIC_URL="https://wall.example/relay/{worker}/"
    )
    shard = rs.shard("gate")
    assert rs.whep_url("gate", "sub") == f"https://wall.example/relay/{shard}/whep/gate/sub"


def two_free_ports() -> int:
    for _ in range(50):
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports")


@dataclass
class Relay:
    proc: subprocess.Popen[str]
    settings: RelaySettings


@pytest.fixture
def workers(
    fleet_factory: Callable[..., Fleet], tmp_path: Path
) -> Iterator[tuple[Relay, list[str]]]:
    fleet = fleet_factory(cameras=4, clip="vtest-360p")
    cameras = [f"cam{i}" for i in range(1, 5)]
    registry = tmp_path / "registry.yaml"
    lines = ["version: 1", "district: {id: t, name: T}",
             "departments: [{id: police, name: Police, kind: police}]", "cameras:"]  # fmt: skip
    for i, cam in enumerate(cameras, 1):
        url = fleet.url(f"/sim/{fleet.clip}/cam{i:04d}")
        lines.append(
            f"  - {{id: {cam}, name: {cam}, department: police, "
            f"location: {{lat: 31.8, lon: 117.2}}, streams: {{main: '{url}'}}}}"
        )
    registry.write_text("\n".join(lines) + "\n")
    port = two_free_ports()
    env = {
        **os.environ,
        "SHARPEYE_REGISTRY": str(registry),
        "SHARPEYE_DATA_DIR": str(tmp_path),
        "SHARPEYE_TOKEN_SECRET": SECRET,
        "SHARPEYE_RELAY_PORT": str(port),
        "SHARPEYE_RELAY_WORKERS": "2",
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "sharpeye.cli", "relay"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    ready = 0
    deadline = time.monotonic() + 60
    while ready < 2 and time.monotonic() < deadline:  # both workers say "relay on"
        line = proc.stdout.readline()
        ready += "relay on" in line
    assert ready == 2, "relay workers did not start"
    # Keep reading their logs: a full pipe would block the workers' logging.
    log = (tmp_path / "relay.log").open("w")

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            log.flush()

    threading.Thread(target=pump, daemon=True).start()
    rs = settings(SHARPEYE_RELAY_PORT=port, SHARPEYE_RELAY_WORKERS=2)
    try:
        yield Relay(proc, rs), cameras
    finally:
        children = child_pids(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        for _ in range(100):
            if not any(pid_alive(p) for p in children):
                break
            time.sleep(0.1)
        assert not any(pid_alive(p) for p in children), "a worker outlived worker 0"


async def test_each_camera_plays_from_its_worker(workers: tuple[Relay, list[str]]) -> None:
    relay, cameras = workers
    use_host_addresses(["127.0.0.1"])  # this test's viewers: loopback, like the relay
    signer = TokenSigner(SECRET.encode())
    assert {relay.settings.shard(c) for c in cameras} == {0, 1}  # both workers serve
    for cam in cameras:
        viewer = WhepViewer(relay.settings.whep_url(cam, "sub"), signer.issue(cam, "police"))
        await viewer.start()
        try:
            assert await viewer.count_frames(5) >= 5
        finally:
            await viewer.stop()
