"""A node's own secret in the data dir: created once (mode 0600), then read by every process.

The audit chain's key (`<data_dir>/audit_key`) and the evidence signing key
(`<data_dir>/evidence_key`) are made this way: whichever process needs the key first writes
it, the others read what it wrote, so all processes of a node agree without configuration.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

# How long a reader waits for the creating process to finish writing (50 x 10 ms).
_WAIT_TRIES = 50
_WAIT_S = 0.01


def create_once(path: Path, make: Callable[[], bytes]) -> bytes:
    """The file's content; when it does not exist yet, `make()` written to it first (0600).

    O_EXCL: two processes starting at once must not each write a different secret; the one
    that loses the race reads the winner's (waiting while it is still being written). An
    empty file (a crash between create and write) is refused rather than read as a key.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(make())
    for _ in range(_WAIT_TRIES):
        data = path.read_bytes()
        if data.strip():
            return data
        time.sleep(_WAIT_S)
    raise RuntimeError(f"key file {path} is empty: delete it to have a new key made")
