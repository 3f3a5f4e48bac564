"""Pytest plugin: real footage and a real simulated fleet (`sharpeye simulate` subprocesses).

Fixtures:
- `footage` (session): clip name -> path, prepared once in the repo's var/ and reused.
- `fleet_factory`: `fleet_factory(cameras=20, clip="vtest-720p", registry=None, env=None)`
  starts a fleet on a free 127.0.0.1 port and returns a `Fleet`; every fleet is stopped at
  teardown and no publisher (ffmpeg) may outlive it.
- `fleet`: a fleet of 20 extra cameras `/sim/vtest-720p/cam0001`..`cam0020`.
`start_fleet(...)` does the same for fixtures of other scopes (call `.stop()` yourself).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sharpeye.simulate.fleet import sim_credentials
from sharpeye.simulate.footage import prepare

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "var"
READY = "== fleet ready:"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def pid_alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")  # zombies are dead, not reaped


def child_pids(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and fields[1] == str(pid) and fields[0] not in ("Z", "X"):
                kids.append(int(entry.name))
    return kids


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (0 if gone)."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Fleet:
    """One `sharpeye simulate` process; `.port` stays the same across `.restart()`."""

    def __init__(
        self,
        cameras: int = 20,
        clip: str = "vtest-720p",
        registry: Path | None = None,
        env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.onvif_port = free_port()
        self.cameras = cameras
        self.clip = clip
        self.registry = registry
        self.user, self.password = sim_credentials()
        self.env = {**os.environ, "SHARPEYE_DATA_DIR": str(DATA_DIR), "PYTHONUNBUFFERED": "1"}
        self.env.update(env or {})
        self.user = self.env.get("SHARPEYE_SIM_RTSP_USER") or self.user
        self.password = self.env.get("SHARPEYE_SIM_RTSP_PASSWORD") or self.password
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self.publishers: set[int] = set()  # every ffmpeg child seen, to check none outlives us
        self._ready = threading.Event()

    @property
    def camera_paths(self) -> list[str]:
        """The extra cameras' paths, /sim/<clip>/cam0001 ..."""
        return [f"/sim/{self.clip}/cam{i:04d}" for i in range(1, self.cameras + 1)]

    def url(self, camera_path: str, user: str | None = None, password: str | None = None) -> str:
        """rtsp:// URL of a mount path; pass user/password (or `fleet.user`) for /secure."""
        auth = f"{user}:{password}@" if user is not None else ""
        return f"rtsp://{auth}127.0.0.1:{self.port}/{camera_path.lstrip('/')}"

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def start(self, timeout: float = 60.0) -> Fleet:
        cmd = [sys.executable, "-m", "sharpeye.cli", "simulate", "--cameras", str(self.cameras)]
        cmd += ["--clip", self.clip, "--rtsp-port", str(self.port)]
        cmd += ["--onvif-port", str(self.onvif_port)]
        if self.registry is not None:
            cmd += ["--registry", str(self.registry)]
        self._ready.clear()
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"fleet did not become ready:\n{self.output[-4000:]}")
        self.publishers.update(self.publisher_pids())
        return self

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line)
            if line.startswith(READY):
                self._ready.set()

    def publisher_pids(self) -> list[int]:
        return [] if self.proc is None else child_pids(self.proc.pid)

    def leftover_publishers(self, wait: float = 5.0) -> list[int]:
        """Publishers still running `wait` seconds after the server went away."""
        deadline = time.monotonic() + wait
        while True:
            alive = [p for p in self.publishers if pid_alive(p)]
            if not alive or time.monotonic() > deadline:
                return alive
            time.sleep(0.1)

    def _end(self, sig: signal.Signals, timeout: float) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        self.publishers.update(child_pids(proc.pid))
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, as an operator would; the server stops its publishers itself."""
        self._end(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to clean up (publishers die by PDEATHSIG)."""
        self._end(signal.SIGKILL, 10.0)

    def restart(self, timeout: float = 60.0) -> Fleet:
        """Stop (if running) and start again on the same port."""
        self.stop()
        return self.start(timeout)


def start_fleet(
    cameras: int = 20,
    clip: str = "vtest-720p",
    registry: Path | None = None,
    env: dict[str, str] | None = None,
) -> Fleet:
    pytest.importorskip("gi", reason="the fleet needs Debian's python3-gi in the venv")
    return Fleet(cameras, clip, registry, env).start()


def stop_and_check(fleet: Fleet) -> None:
    fleet.stop()
    leftovers = fleet.leftover_publishers()
    for pid in leftovers:  # do not leak them into later tests, but fail this one
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not leftovers, f"publishers outlived the fleet: {leftovers}"


@pytest.fixture(scope="session")
def footage() -> dict[str, Path]:
    """Every clip of sharpeye.simulate.footage.CLIPS, made once in var/footage."""
    return prepare(DATA_DIR)


@pytest.fixture
def fleet_factory(footage: dict[str, Path]) -> Iterator[Callable[..., Fleet]]:
    fleets: list[Fleet] = []

    def make(
        cameras: int = 20,
        clip: str = "vtest-720p",
        registry: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> Fleet:
        fleets.append(start_fleet(cameras, clip, registry, env))
        return fleets[-1]

    yield make
    for f in fleets:
        stop_and_check(f)


@pytest.fixture
def fleet(fleet_factory: Callable[..., Fleet]) -> Fleet:
    return fleet_factory(cameras=20)
