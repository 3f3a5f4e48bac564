"""Shared benchmark plumbing: CPU accounting from /proc, the fleet, result records, plots."""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
CLK = os.sysconf("SC_CLK_TCK")


@dataclass
class Figure:
    figure: str
    value: float
    unit: str
    anchor: str
    anchor_value: float
    goal: str
    machine: str
    date: str


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores {cpu}, {platform.system()} {platform.release()}"


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes (all their threads) so far."""
    total = 0
    for pid in pids:
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK


def rss_mb(pid: int) -> float:
    """Resident memory of one process, MB (0 if gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SimFleet:
    """`sharpeye simulate --cameras N --clip C` in its own process (its CPU is not counted)."""

    def __init__(self, cameras: int, clip: str) -> None:
        self.port = free_port()
        self.clip = clip
        self.cameras = cameras
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sharpeye.cli",
                "simulate",
                "--cameras",
                str(cameras),
                "--clip",
                clip,
                "--rtsp-port",
                str(self.port),
                "--onvif-port",
                str(free_port()),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 120
        for line in self.proc.stdout:
            if "fleet ready" in line:
                break
            if time.monotonic() > deadline:
                break
        else:
            raise RuntimeError(f"fleet for {clip} did not start")

    def urls(self) -> list[str]:
        return [
            f"rtsp://127.0.0.1:{self.port}/sim/{self.clip}/cam{i:04d}"
            for i in range(1, self.cameras + 1)
        ]

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)


def write_results(name: str, figures: list[Figure]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps([asdict(f) for f in figures], indent=2, ensure_ascii=False) + "\n")
    return path
