"""The relay under benchmark: `sharpeye relay` as its own process on a one-camera registry,
shared by the relay benchmark (benchmarks/relay.py) and the soak reproduction
(benchmarks/relay_load.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from benchmarks.common import free_port

SECRET = "relay-benchmark-secret-0123456789"
CAMERA = "bench"


class RelayProcess:
    def __init__(self, work: Path, camera_url: str, gop_cache: bool = True) -> None:
        work.mkdir(parents=True, exist_ok=True)
        registry = work / "registry.yaml"
        registry.write_text(
            "version: 1\ndistrict: {id: b, name: Bench}\n"
            "departments: [{id: bench, name: Bench, kind: other}]\n"
            f"cameras:\n  - {{id: {CAMERA}, name: Bench, department: bench,"
            f" location: {{lat: 31.8, lon: 117.2}}, streams: {{main: '{camera_url}'}}}}\n"
        )
        self.port = free_port()
        env = {
            **os.environ,
            "SHARPEYE_REGISTRY": str(registry),
            "SHARPEYE_DATA_DIR": str(work),
            "SHARPEYE_TOKEN_SECRET": SECRET,
            "SHARPEYE_RELAY_PORT": str(self.port),
            "SHARPEYE_RELAY_IDLE_S": "60",
            "SHARPEYE_RELAY_GOP_CACHE": "true" if gop_cache else "false",
            "PYTHONUNBUFFERED": "1",
        }
        self.log = (work / "relay.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sharpeye.cli", "relay"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}/whep/{CAMERA}/main"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/relay/stats", timeout=1)
                break
            except httpx.TransportError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"relay did not start: see {work / 'relay.log'}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
