"""Waiting on an ingest engine's health in tests (a hang guard, not a timing assertion)."""

from __future__ import annotations

import time
from collections.abc import Callable

from ingest.engine import IngestEngine
from sharpeye.contracts.health import CameraHealth


def wait_for(
    engine: IngestEngine, cid: str, pred: Callable[[CameraHealth], bool], timeout: float
) -> CameraHealth:
    deadline = time.monotonic() + timeout
    h = engine.health()[cid]
    while time.monotonic() < deadline:
        h = engine.health()[cid]
        if pred(h):
            return h
        time.sleep(0.1)
    raise AssertionError(f"{cid}: condition not met in {timeout} s; last health: {h}")
