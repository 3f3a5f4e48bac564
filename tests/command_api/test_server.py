"""`sharpeye api` as a real process: uvicorn, JSON logs, docs, the wall page, clear failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sharpeye.bus.embedded import free_port

pytestmark = pytest.mark.integration

REGISTRY = """\
version: 1
district: {id: demo, name: Demo District}
departments:
  - {id: police, name: District Police, kind: police}
cameras:
  - id: cam-1
    name: Square north
    department: police
    location: {lat: 31.2, lon: 117.3}
    streams: {main: "rtsp://127.0.0.1:8554/sq1"}
"""


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    registry = tmp_path / "camera_registry.yaml"
    registry.write_text(REGISTRY)
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    env.update(
        SHARPEYE_REGISTRY=str(registry),
        SHARPEYE_DATA_DIR=str(tmp_path / "data"),
        SHARPEYE_API_HOST="127.0.0.1",
        **extra,
    )
    return env


def _api(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sharpeye.cli", "api"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def api_process(tmp_path: Path, redis_url: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    # cwd is the temp dir so a developer's `.env` cannot leak into the test.
    env = _env(
        tmp_path,
        REDIS_URL=redis_url,
        SHARPEYE_API_PORT=str(port),
        SHARPEYE_BOOTSTRAP_ADMIN="admin:bootstrap-pass",
        # Access lines are held at WARNING by default (quiet shift logs); turned on here to
        # check they come out as JSON like the rest.
        SHARPEYE_LOG_LEVELS="uvicorn.access=info",
    )
    proc = _api(env, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90  # a hang guard: start-up is slow on a loaded machine
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "API did not answer /healthz in 90 s"
            time.sleep(0.1)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_serves_api_docs_and_wall(api_process: tuple[str, subprocess.Popen[str]]) -> None:
    base, proc = api_process
    assert httpx.get(f"{base}/api/cameras").status_code == 401
    login = {"username": "admin", "password": "bootstrap-pass"}
    token = httpx.post(f"{base}/api/auth/login", json=login).json()["access_token"]
    cameras = httpx.get(f"{base}/api/cameras", headers={"Authorization": f"Bearer {token}"}).json()
    assert [c["id"] for c in cameras] == ["cam-1"]
    assert "swagger" in httpx.get(f"{base}/docs").text.lower()
    assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "Sharpeye command API"
    assert "<title>Sharpeye</title>" in httpx.get(f"{base}/").text
    proc.terminate()
    out, err = proc.communicate(timeout=10)
    port = base.rsplit(":", 1)[1]
    assert f"== API on http://127.0.0.1:{port}/ (docs at /docs)" in out
    # Logs are one JSON object per line (access lines included).
    records = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert records and all({"ts", "level", "logger", "msg"} <= r.keys() for r in records)
    assert any(r["logger"] == "uvicorn.access" and "/api/cameras" in r["msg"] for r in records)


def test_without_redis_exits_with_clear_message(tmp_path: Path) -> None:
    proc = _api(_env(tmp_path, SHARPEYE_API_PORT=str(free_port())), tmp_path)
    _out, err = proc.communicate(timeout=120)  # a hang guard
    assert proc.returncode == 1
    assert "no Redis: set REDIS_URL or run `sharpeye up`" in err
    assert "Traceback" not in err


def test_bad_registry_exits_with_located_error(tmp_path: Path, redis_url: str) -> None:
    env = _env(tmp_path, REDIS_URL=redis_url, SHARPEYE_API_PORT=str(free_port()))
    Path(env["SHARPEYE_REGISTRY"]).write_text(
        REGISTRY.replace("department: police", "department: x")
    )
    proc = _api(env, tmp_path)
    _out, err = proc.communicate(timeout=120)  # a hang guard
    assert proc.returncode == 1
    assert "camera_registry.yaml:" in err and "Traceback" not in err
