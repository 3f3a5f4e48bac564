"""Pytest plugin: real footage and a real simulated fleet (`sharpeye simulate` subprocesses).

Fixtures:
- `footage` (session): clip name -> path, prepared once in the repo's var/ and reused.
- `fleet_factory`: `fleet_factory(cameras=20, clip="vtest-720p", registry=None, env=None)`
  starts a fleet on a free 127.0.0.1 port and returns a `Fleet`; every fleet is stopped at
  teardown and no publisher (ffmpeg) may outlive it.
- `fleet`: a fleet of 20 extra cameras `/sim/vtest-720p/cam0001`..`cam0020`.
`start_fleet(...)` does the same for fixtures of other scopes (then `stop_and_check(fleet)`).
Raw RTSP helpers: `rtsp_request`/`rtsp_describe` (exact status codes, headers) and
`RawViewer` (DESCRIBE/SETUP/PLAY over TCP, counts bytes: for load at near-zero client CPU).
"""

from __future__ import annotations

import asyncio
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
import yaml

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
        tls: tuple[Path, Path] | None = None,
        tls_port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        # RTSPS beside RTSP: (certificate, key) PEM files, served on `tls_port`.
        self.tls = tls
        self.tls_port = (tls_port or free_port()) if tls is not None else None
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

    def url(
        self,
        camera_path: str,
        user: str | None = None,
        password: str | None = None,
        tls: bool = False,
        host: str = "127.0.0.1",
    ) -> str:
        """rtsp:// URL of a mount path (rtsps:// with `tls`); pass user/password (or
        `fleet.user`) for /secure."""
        auth = f"{user}:{password}@" if user is not None else ""
        scheme, port = ("rtsps", self.tls_port) if tls else ("rtsp", self.port)
        return f"{scheme}://{auth}{host}:{port}/{camera_path.lstrip('/')}"

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def start(self, timeout: float = 60.0) -> Fleet:
        cmd = [sys.executable, "-m", "sharpeye.cli", "simulate", "--cameras", str(self.cameras)]
        cmd += ["--clip", self.clip, "--rtsp-port", str(self.port)]
        cmd += ["--onvif-port", str(self.onvif_port)]
        if self.registry is not None:
            cmd += ["--registry", str(self.registry)]
        if self.tls is not None:
            cmd += ["--rtsps-port", str(self.tls_port)]
            cmd += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
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


# -- a raw RTSP/TCP client: exact status codes and headers, and near-free load viewers --


async def rtsp_request(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    method: str,
    url: str,
    cseq: int,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, list[str]], bytes]:
    """One request on an open connection: (status, lower-cased header -> values, body)."""
    lines = [f"{method} {url} RTSP/1.0", f"CSeq: {cseq}", "User-Agent: sharpeye-test"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    # Once a stream is set up, media may arrive before the reply: skip interleaved frames.
    while (first := await reader.readexactly(1)) == b"$":
        size = int.from_bytes((await reader.readexactly(3))[1:], "big")
        await reader.readexactly(size)
    status = int((first + await reader.readline()).split()[1])
    got: dict[str, list[str]] = {}
    while (line := (await reader.readline()).decode().strip()) != "":
        key, _, value = line.partition(":")
        got.setdefault(key.strip().lower(), []).append(value.strip())
    body = await reader.readexactly(int(got.get("content-length", ["0"])[0]))
    return status, got, body


async def rtsp_describe(
    port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, list[str]], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        url = f"rtsp://127.0.0.1:{port}{path}"
        return await rtsp_request(reader, writer, "DESCRIBE", url, 1, headers)
    finally:
        writer.close()


class RawViewer:
    """DESCRIBE/SETUP/PLAY over RTSP-interleaved TCP, then count bytes: near-zero client CPU."""

    def __init__(self, port: int, path: str) -> None:
        self.url = f"rtsp://127.0.0.1:{port}{path}"
        self.port = port
        self.bytes = 0
        self.playing = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            status, headers, sdp = await rtsp_request(reader, writer, "DESCRIBE", self.url, 1)
            assert status == 200, f"DESCRIBE {self.url}: {status}"
            base = headers.get("content-base", [self.url + "/"])[0]
            control = next(
                line.split(":", 1)[1]
                for line in sdp.decode().splitlines()
                if line.startswith("a=control:") and line != "a=control:*"
            )
            transport = {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"}
            status, headers, _ = await rtsp_request(
                reader, writer, "SETUP", base.rstrip("/") + "/" + control, 2, transport
            )
            assert status == 200, f"SETUP {self.url}: {status}"
            session = headers["session"][0].split(";")[0]
            status, _, _ = await rtsp_request(
                reader, writer, "PLAY", self.url, 3, {"Session": session}
            )
            assert status == 200, f"PLAY {self.url}: {status}"
            self.playing.set()
            while not stop.is_set():
                chunk = await reader.read(65536)
                if not chunk:
                    break
                self.bytes += len(chunk)
        finally:
            writer.close()


def start_fleet(
    cameras: int = 20,
    clip: str = "vtest-720p",
    registry: Path | None = None,
    env: dict[str, str] | None = None,
) -> Fleet:
    pytest.importorskip("gi", reason="the fleet needs Debian's python3-gi in the venv")
    return Fleet(cameras, clip, registry, env).start()


def fleet_serving(folder: Path, cameras: dict[str, str]) -> Fleet:
    """A fleet serving exactly these paths (camera id -> `/sim/<clip>/<name>`), mounted from
    a small registry written in `folder`: what most reader tests need."""
    port = free_port()
    registry = folder / "registry.yaml"
    cams = [
        {"id": cid, "streams": {"main": f"rtsp://127.0.0.1:{port}{path}"}}
        for cid, path in cameras.items()
    ]
    registry.write_text(yaml.safe_dump({"cameras": cams}))
    return Fleet(cameras=0, registry=registry, port=port).start()


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
