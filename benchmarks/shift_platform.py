"""The platform under a shift: `sharpeye up` as `make up` runs it, on private ports and data,
plus one camera of the harness's own that it stops and restarts, and a sampler of every
process the platform runs (RSS, CPU, open files, threads) straight from /proc.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import CLK, free_port

REPO = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")
# The camera the harness stops and restarts: its own simulator, so stopping it is a real
# camera going away (connection refused) and coming back, not a registry trick.
TOGGLE_CAMERA = "shift-toggle"
TOGGLE_CLIP = "vtest-360p"
# Roles of `up`'s children, told apart by their command lines.
ROLES = {
    "simulate": "fleet",
    "ingest": "ingest",
    "relay": "relay",
    "api": "api",
    "redis-server": "redis",
    "receiver": "receiver",
}


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def children_of(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return kids
    for task in tasks:
        try:
            kids += [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            continue
    return kids


def _is_mp_child(pid: int) -> bool:
    """A multiprocessing worker (not its resource tracker, which holds no data)."""
    return any("spawn_main" in part or "forkserver" in part for part in _cmdline(pid))


def role_of(pid: int) -> str | None:
    argv = _cmdline(pid)
    if not argv:
        return None
    if "redis-server" in os.path.basename(argv[0]):
        return "redis"
    # `sharpeye <command>` or `python -m sharpeye.cli <command>`.
    for word in argv[1:4]:
        if word in ROLES:
            return ROLES[word]
    return None


@dataclass
class ProcSample:
    t: float
    role: str
    pid: int
    rss_mb: float
    cpu_s: float
    open_files: int
    threads: int


def sample_process(pid: int, role: str, t: float) -> ProcSample | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        statm = Path(f"/proc/{pid}/statm").read_text().split()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return ProcSample(
        t=t,
        role=role,
        pid=pid,
        rss_mb=int(statm[1]) * PAGE / 1e6,
        cpu_s=(int(fields[11]) + int(fields[12])) / CLK,
        open_files=fds,
        threads=int(fields[17]),
    )


@dataclass
class Platform:
    """`sharpeye up` on free ports with a private data directory and registry."""

    work: Path
    api_port: int = field(default_factory=free_port)
    relay_port: int = field(default_factory=free_port)
    rtsp_port: int = field(default_factory=free_port)
    onvif_port: int = field(default_factory=free_port)
    toggle_port: int = field(default_factory=free_port)
    receiver_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[str] | None = None
    toggle: subprocess.Popen[str] | None = None
    lines: list[str] = field(default_factory=list)
    up_at: float = 0.0

    @property
    def data(self) -> Path:
        return self.work / "data"

    @property
    def registry(self) -> Path:
        return self.work / "camera_registry.yaml"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def receiver_url(self) -> str:
        return f"http://127.0.0.1:{self.receiver_port}"

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "SHARPEYE_DATA_DIR": str(self.data),
            "SHARPEYE_REGISTRY": str(self.registry),
            "SHARPEYE_API_PORT": str(self.api_port),
            "SHARPEYE_RELAY_PORT": str(self.relay_port),
            "SHARPEYE_RELAY_PUBLIC_URL": f"http://127.0.0.1:{self.relay_port}",
            "SHARPEYE_SIM_RTSP_PORT": str(self.rtsp_port),
            "SHARPEYE_SIM_ONVIF_PORT": str(self.onvif_port),
            "SHARPEYE_RECEIVER_PORT": str(self.receiver_port),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("REDIS_URL", None)  # the platform starts its own, as `make up` does
        env.pop("DATABASE_URL", None)
        return env

    def prepare(self) -> None:
        """Private data (prepared footage and models shared by symlink) and registry."""
        self.data.mkdir(parents=True, exist_ok=True)
        for name in ("footage", "models", "samples", "cache"):
            src, dst = REPO / "var" / name, self.data / name
            if src.exists() and not dst.exists():
                dst.symlink_to(src)
        text = (REPO / "camera_registry.yaml").read_text(encoding="utf-8")
        text = text.replace("127.0.0.1:8554/", f"127.0.0.1:{self.rtsp_port}/")
        ports = {int(p): free_port() for p in set(re.findall(r"\bport: (\d+)", text))}
        text = re.sub(r"\bport: (\d+)", lambda m: f"port: {ports[int(m.group(1))]}", text)
        self.registry.write_text(_with_toggle_camera(text, self.toggle_url()), encoding="utf-8")

    def toggle_url(self) -> str:
        return f"rtsp://127.0.0.1:{self.toggle_port}/sim/{TOGGLE_CLIP}/cam0001"

    def start(self, timeout: float = 300.0) -> None:
        self.prepare()
        self.start_toggle()
        log = (self.work / "up.log").open("w")
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "sharpeye"), "up", "--demo"],
            cwd=REPO,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        up = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                self.lines.append(line)
                if "Sharpeye is up" in line:
                    up.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not up.wait(1.0):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("`sharpeye up` did not come up:\n" + "".join(self.lines[-40:]))
        self.up_at = time.time()

    def start_toggle(self, timeout: float = 60.0) -> None:
        """Start the harness's camera and return once it serves (its "fleet ready" line):
        the camera's return, from which the walls' resume is timed."""
        path = self.work / "toggle-camera.log"
        offset = path.stat().st_size if path.exists() else 0
        out = path.open("a")
        self.toggle = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sharpeye.cli",
                "simulate",
                "--cameras",
                "1",
                "--clip",
                TOGGLE_CLIP,
                "--rtsp-port",
                str(self.toggle_port),
                "--onvif-port",
                str(free_port()),
            ],
            env={**self.env(), "SHARPEYE_DATA_DIR": str(self.data)},
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.toggle.poll() is None:
            with path.open("rb") as log:
                log.seek(offset)
                if b"fleet ready" in log.read():
                    return
            time.sleep(0.1)
        raise RuntimeError(f"the harness camera did not start: see {path}")

    def stop_toggle(self) -> None:
        if self.toggle is None:
            return
        _end_group(self.toggle, 15)
        self.toggle = None

    def processes(self) -> Iterator[tuple[int, str]]:
        if self.proc is None:
            return
        roles: dict[int, str] = {}
        todo = [self.proc.pid]
        while todo:
            parent = todo.pop()
            for pid in children_of(parent):
                todo.append(pid)
                role = role_of(pid)
                # A service's own child (the API's face-probe process, started by
                # multiprocessing) is watched under its parent's name.
                if role is None and parent in roles and _is_mp_child(pid):
                    role = f"{roles[parent]}-child"
                if role is not None:
                    roles[pid] = role
                    yield pid, role

    def restarts_logged(self) -> int:
        """Children `up` had to restart (it logs each one)."""
        return sum(1 for line in self.lines if re.search(r"exited \(.*\); restarting", line))

    def stop(self) -> None:
        self.stop_toggle()
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def _end_group(proc: subprocess.Popen[str], timeout: float) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _with_toggle_camera(registry: str, url: str) -> str:
    """The demo registry plus the harness's own camera, in the tourism department (whose
    wall the harness leaves alone, so the stop and return are seen on an untouched wall)."""
    camera = (
        f"  - id: {TOGGLE_CAMERA}\n"
        "    name: Shift harness camera (stopped and restarted)\n"
        "    department: tourism\n"
        "    groups: [scenic-spots]\n"
        "    location: {lat: 31.8205, lon: 117.2290}\n"
        f"    streams: {{main: '{url}', sub: '{url}'}}\n"
    )
    marker = "\ncameras:\n"
    head, sep, tail = registry.partition(marker)
    if not sep:
        raise ValueError("the registry has no top-level `cameras:` list")
    return head + sep + camera + tail


def log_tracebacks(logs: Path) -> dict[str, int]:
    """Tracebacks in each service log (a traceback is a crash path, even when caught)."""
    counts: dict[str, int] = {}
    for path in sorted(logs.glob("*.log")):
        text = path.read_text(errors="replace")
        counts[path.stem] = text.count("Traceback (most recent call last)")
    return counts
