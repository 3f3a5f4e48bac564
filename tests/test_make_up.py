"""`make up` as a newcomer runs it: the platform comes up and the API lists cameras online.

Runs the real Makefile target in a subprocess on free ports with a private data directory
(the prepared footage is shared through a symlink so nothing is re-encoded).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_fleet import REPO, child_pids, free_port, pid_alive

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _ports_registry(src: Path, dst: Path, rtsp: int) -> dict[int, int]:
    text = src.read_text(encoding="utf-8").replace("127.0.0.1:8554/", f"127.0.0.1:{rtsp}/")
    mapping = {int(p): free_port() for p in set(re.findall(r"\bport: (\d+)", text))}
    text = re.sub(r"\bport: (\d+)", lambda m: f"port: {mapping[int(m.group(1))]}", text)
    dst.write_text(text, encoding="utf-8")
    return mapping


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = child_pids(todo.pop())
        out += kids
        todo += kids
    return out


@pytest.mark.timeout(900)  # the whole platform from `make`: its own waits are the guards
def test_make_up_brings_the_demo_district_online(tmp_path: Path, footage: Any) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "footage").symlink_to(REPO / "var" / "footage")
    rtsp, api, receiver = free_port(), free_port(), free_port()
    registry = tmp_path / "camera_registry.yaml"
    _ports_registry(REPO / "camera_registry.yaml", registry, rtsp)
    env = {
        **os.environ,
        "SHARPEYE_DATA_DIR": str(data),
        "SHARPEYE_REGISTRY": str(registry),
        "SHARPEYE_API_PORT": str(api),
        "SHARPEYE_SIM_RTSP_PORT": str(rtsp),
        "SHARPEYE_SIM_ONVIF_PORT": str(free_port()),
        "SHARPEYE_RELAY_PORT": str(free_port()),
        "SHARPEYE_RECEIVER_PORT": str(receiver),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)  # the platform must start its own
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "up"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    up = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Sharpeye is up" in line:
                up.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        # A hang guard: a fresh clone composes the demo scenes first (minutes on 2 cores).
        assert up.wait(300), "make up did not come up:\n" + "".join(lines[-40:])
        banner = next(ln for ln in lines if "Sharpeye is up" in ln)
        assert f"http://127.0.0.1:{api}/" in banner
        assert f"Duty receiver: http://127.0.0.1:{receiver}/" in banner
        assert "delivered nowhere" not in banner
        login = urllib.request.Request(
            f"http://127.0.0.1:{api}/api/auth/login",
            data=json.dumps({"username": "admin", "password": "admin-demo-pass"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(login) as resp:
            token = json.load(resp)["access_token"]
        list_cameras = urllib.request.Request(
            f"http://127.0.0.1:{api}/api/cameras", headers={"Authorization": f"Bearer {token}"}
        )
        cameras: list[dict[str, Any]] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with urllib.request.urlopen(list_cameras) as resp:
                cameras = json.load(resp)
            states = {c["id"]: c["health"]["state"] for c in cameras}
            if states and all(s == "online" for c, s in states.items()):
                break
            time.sleep(1)
        assert len(cameras) == 13
        assert {c["id"]: c["health"]["state"] for c in cameras} == {
            c["id"]: "online" for c in cameras
        }
        with urllib.request.urlopen(f"http://127.0.0.1:{api}/") as resp:
            assert resp.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{api}/docs") as resp:
            assert resp.status == 200
        # The fire scene at the forest lookout raises the forest-fire alarm; its delivery
        # reaches the demo receiver's forestry duty desk and shows on the receiver's page.
        received: list[dict[str, Any]] = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not received:
            with urllib.request.urlopen(f"http://127.0.0.1:{receiver}/api/received") as resp:
                received = [r for r in json.load(resp) if r["department"] == "forestry"]
            time.sleep(1)
        assert received, "no alarm reached the duty receiver"
        assert received[-1]["verified"] is True and received[-1]["change"] == "created"
        with urllib.request.urlopen(f"http://127.0.0.1:{receiver}/") as resp:
            assert received[-1]["title"] in resp.read().decode()
        everything = _descendants(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    output = "".join(lines)
    assert "== stopped" in output
    receiver_secret = (data / "receiver" / "secret").read_text()
    for secret in ("sim-secret", "sim-onvif", receiver_secret):
        assert secret not in output
        for log in (data / "logs").glob("*.log"):
            assert secret not in log.read_text(errors="replace"), log
    logs = [log.read_text(errors="replace") for log in (data / "logs").glob("*.log")]
    assert "receiver.log" in {log.name for log in (data / "logs").glob("*.log")}
    for text in [output, *logs]:
        assert "alembic.runtime.plugins" not in text
    # The banner shows the demo logins; the services' logs (up's own login included) do not.
    assert not [text for text in logs if "admin-demo-pass" in text]
    time.sleep(1)
    assert not [p for p in everything if pid_alive(p)], "children outlived `make up`"
