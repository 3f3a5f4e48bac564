"""Child processes of `sharpeye up`: started, watched, restarted with backoff, stopped.

Graceful-then-forced shutdown (as uvicorn's supervisors do); each child is told by the
kernel to stop if `sharpeye up` itself dies, so nothing outlives it holding a port.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger("sharpeye.up")
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # pragma: no cover - runs between fork and exec
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class Child:
    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str],
        log_dir: Path,
        ready: Callable[[str], bool] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.ready = ready
        self.proc: subprocess.Popen[str] | None = None
        self.restarts = 0
        self._ready = threading.Event()
        self._pump: threading.Thread | None = None

    def start(self) -> None:
        self._ready.clear()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=die_with_parent,
        )
        self._pump = threading.Thread(target=self._copy_output, daemon=True)
        self._pump.start()
        if self.ready is None:
            self._ready.set()

    def _copy_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with self.log_path.open("a") as out:
            for line in self.proc.stdout:
                out.write(line)
                out.flush()
                if self.ready is not None and not self._ready.is_set() and self.ready(line):
                    self._ready.set()

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ready.wait(0.2):
                return True
            if self.proc is not None and self.proc.poll() is not None:
                return False
        return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        p = self.proc
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in %.0f s: killing it", self.name, timeout)
            p.kill()
            p.wait()

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def sharpeye_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "sharpeye.cli", *args]


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    env.setdefault("SHARPEYE_LOG_FORMAT", "json")
    return env
