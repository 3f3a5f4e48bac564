"""The node's own Redis: a Debian `redis-server` child that lives exactly as long as its owner.

One process per node (`sharpeye up`) owns it and writes its URL to `data_dir/run/redis.url`;
the node's other processes (ingest, api, `sharpeye status`) find it there when `REDIS_URL` is
unset (see `sharpeye.bus.connect`).

It requires a password, random per server unless given: any local process could otherwise
read every camera's health and write events or alarms onto the bus. The password reaches
redis-server in a config file and the others in the URL file, both mode 0600, never on a
command line (which `ps` shows to every user).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import redis

log = logging.getLogger(__name__)

URL_FILE_NAME = "redis.url"
DEBIAN_REDIS_SERVER = "/usr/bin/redis-server"
_PR_SET_PDEATHSIG = 1
# A free port can be taken by someone else between our probe and redis binding it.
_BIND_ATTEMPTS = 5


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be started; the message says why and what to do."""


def run_dir(data_dir: Path) -> Path:
    """Where a node keeps its runtime files (Redis URL file, Redis log)."""
    return data_dir / "run"


def url_file(data_dir: Path) -> Path:
    return run_dir(data_dir) / URL_FILE_NAME


def running_url(data_dir: Path) -> str | None:
    """The URL of this data dir's embedded Redis if one answers, else None.

    For `sharpeye up`: a second owner on the same node would hijack the URL file.
    A file left by a crashed owner (its Redis died with it) reads as None.
    """
    try:
        url = url_file(data_dir).read_text().strip()
    except OSError:
        return None
    if not url:
        return None
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return url if client.ping() else None
    except (redis.RedisError, OSError):
        return None
    finally:
        client.close()


def find_redis_server() -> str:
    # Debian's path too: PATH may be minimal under systemd or in a container entrypoint.
    path = shutil.which("redis-server") or shutil.which(DEBIAN_REDIS_SERVER)
    if path is None:
        raise EmbeddedRedisError(
            "redis-server not found: the embedded bus needs Debian's redis-server; "
            "run `scripts/install-system.sh` (or `make system`), or set REDIS_URL "
            "to an external Redis"
        )
    return path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """preexec_fn: ask the kernel to SIGTERM the child when the thread that forked it exits.

    So a crashed or SIGKILLed owner never leaves an orphan Redis holding a port.
    """
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    # The owner may already have died between fork and prctl: then we were re-parented.
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


class EmbeddedRedis:
    """A private `redis-server` on 127.0.0.1, without persistence (health and live events only).

    Use as a context manager, or call `start()` / `stop()`. The child gets PR_SET_PDEATHSIG,
    which fires when the *thread* that started it exits: start it from the owner's main
    thread (or a thread that lives as long as the owner).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        write_url_file: bool = True,
        persist: bool = True,
        startup_timeout_s: float = 10.0,
        binary: str | None = None,
        password: str | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.host = host
        self._requested_port = port
        self.write_url_file = write_url_file
        self.persist = persist
        self.startup_timeout_s = startup_timeout_s
        self._binary = binary
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        # Kept for the object's life: a restart on the same port keeps clients' URLs valid.
        self.password = password or secrets.token_urlsafe(24)

    @property
    def url(self) -> str:
        if self._port is None:
            raise EmbeddedRedisError("embedded Redis is not running: call start() first")
        return f"redis://:{quote(self.password, safe='')}@{self.host}:{self._port}/0"

    @property
    def safe_url(self) -> str:
        """The URL without its password, for logs and messages."""
        return f"redis://{self.host}:{self._port}/0"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def log_file(self) -> Path:
        return run_dir(self.data_dir) / "redis.log"

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> str:
        """Start redis-server and wait until it answers PING; returns its URL."""
        if self.is_running():
            return self.url
        binary = self._binary or find_redis_server()
        run_dir(self.data_dir).mkdir(parents=True, exist_ok=True)
        attempts = 1 if self._requested_port is not None else _BIND_ATTEMPTS
        last_error = ""
        for _ in range(attempts):
            port = self._requested_port or free_port(self.host)
            proc = self._spawn(binary, port)
            error = self._wait_ready(proc, port)
            if error is None:
                self._proc, self._port = proc, port
                if self.write_url_file:
                    self._write_url_file()
                log.info("embedded Redis pid %d on %s", proc.pid, self.safe_url)
                return self.url
            _terminate(proc, timeout_s=2.0)
            last_error = error
        raise EmbeddedRedisError(f"embedded Redis did not start: {last_error}")

    def _dir(self) -> Path:
        d = self.data_dir / "redis" if self.persist else run_dir(self.data_dir)
        d.mkdir(parents=True, exist_ok=True)
        return d

    def _config_file(self, port: int) -> Path:
        return run_dir(self.data_dir) / f"redis-{port}.conf"

    def _write_config(self, port: int) -> Path:
        path = self._config_file(port)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f'requirepass "{self.password}"\n')
        return path

    def _spawn(self, binary: str, port: int) -> subprocess.Popen[bytes]:
        args = [
            binary,
            str(self._write_config(port).resolve()),  # the password, out of sight of `ps`
            "--bind", self.host,
            "--port", str(port),
            "--save", "",
            # The event stream feeds alarms: an append-only file (fsync each second) keeps
            # events not yet turned into alarms across a Redis restart.
            "--appendonly", "yes" if self.persist else "no",
            "--appendfsync", "everysec",
            "--daemonize", "no",
            "--dir", str(self._dir().resolve()),
            "--logfile", str(self.log_file.resolve()),
            "--loglevel", "warning",
        ]  # fmt: skip
        # Errors before redis has parsed --logfile (a bad argument) go to stderr: keep them
        # in the same file rather than in a pipe nobody drains.
        with self.log_file.open("ab") as out:
            return subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                preexec_fn=_die_with_parent,
                # Own process group: Ctrl-C reaches the owner, which stops Redis last, in order.
                process_group=0,
            )

    def _wait_ready(self, proc: subprocess.Popen[bytes], port: int) -> str | None:
        """None once our Redis answers, else why it did not (exit status, log tail)."""
        deadline = time.monotonic() + self.startup_timeout_s
        client = redis.Redis(
            host=self.host, port=port, password=self.password, socket_connect_timeout=0.5
        )
        try:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    return f"redis-server exited with {proc.returncode}: {self._diagnostics()}"
                try:
                    # Not just PING: another server already on this port would answer too.
                    if client.info("server").get("process_id") == proc.pid:
                        return None
                except redis.RedisError:
                    pass
                time.sleep(0.02)
        finally:
            client.close()
        return f"no PING answer on {self.host}:{port} after {self.startup_timeout_s:.0f} s"

    def _diagnostics(self) -> str:
        log_tail = ""
        with contextlib.suppress(OSError):
            log_tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-5:])
        return log_tail.strip() or f"no output (see {self.log_file})"

    def _write_url_file(self) -> None:
        target = url_file(self.data_dir)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        # 0600: the URL carries the password.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.url + "\n")
        # Atomic: a reader never sees a half-written URL.
        tmp.replace(target)

    def _remove_url_file(self) -> None:
        target = url_file(self.data_dir)
        with contextlib.suppress(OSError):
            # Another owner may have replaced it since; only remove our own.
            if target.read_text().strip() == self.url:
                target.unlink()

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `timeout_s`; idempotent."""
        proc = self._proc
        if proc is None:
            return
        if self.write_url_file and self._port is not None:
            self._remove_url_file()
        _terminate(proc, timeout_s)
        if self._port is not None:
            with contextlib.suppress(OSError):
                self._config_file(self._port).unlink()
        self._proc = None
        self._port = None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _terminate(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("redis-server pid %d ignored SIGTERM; killing it", proc.pid)
            proc.kill()
            proc.wait()
