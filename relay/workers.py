"""Relay workers: one process per core, cameras shared out by id.

aiortc does its per-packet work (RTP header, SRTP, sendto) on one event loop, so a relay
process tops out at one core. Worker 0 (the `sharpeye relay` the operator starts) launches
workers 1..N-1 as child processes on the following ports; the command API's viewer tokens
point each camera's walls at its worker (`RelaySettings.whep_url`), so every camera still
has one upstream and each WHEP session lives in the process that answers its DELETE.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import TracebackType

from sharpeye.relay_settings import RelaySettings


class Workers:
    """Context manager: starts the other workers when this is worker 0, stops them after."""

    def __init__(self, settings: RelaySettings) -> None:
        self.settings = settings
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Workers:
        if self.settings.worker != 0:
            return self
        for i in range(1, self.settings.workers):
            env = {**os.environ, "SHARPEYE_RELAY_WORKER": str(i)}
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "sharpeye.cli", "relay"],
                    env=env,
                    # Workers die with worker 0 even if it is killed without cleanup.
                    preexec_fn=_die_with_parent,
                )
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _die_with_parent() -> None:
    import ctypes

    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
