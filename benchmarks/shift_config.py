"""What a shift runs: how long, how often each user acts, and which walls are open.

The record (`long_walls`, cycles of minutes) and the suite's short variant (`short_config`,
used by tests/benchmarks/test_shift.py and `python -m benchmarks.shift --short`) are written
here once, so the test and the harness's `--short` run the same shift.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.shift_platform import TOGGLE_CAMERA
from benchmarks.shift_report import ShiftData
from benchmarks.shift_walls import WallSpec


@dataclass
class ShiftConfig:
    duration_s: float
    warmup_s: float
    sample_s: float = 5.0
    search_every_s: float = 180.0
    toggle_every_s: float = 600.0
    toggle_down_s: float = 30.0
    edit_every_s: float = 300.0
    ack_after_s: float = 45.0
    relay_settle_s: float = 75.0
    walls: list[WallSpec] = field(default_factory=list)
    name: str = "shift"
    work: Path | None = None
    write_results: bool = True
    # Optional: run past duration_s (up to max_duration_s) until this holds of the data so
    # far, e.g. until every demo scene has raised its alarm on a slow machine.
    until: Callable[[ShiftData], bool] | None = None
    max_duration_s: float = 0.0


def long_walls() -> list[WallSpec]:
    return [
        WallSpec("admin", "admin-demo-pass", "16", tour="department:city_management"),
        WallSpec(
            "forestry",
            "forestry-demo-pass",
            "9",
            cameras=["forest-lookout-1", "forest-lookout-2"],
        ),
        WallSpec(
            "tourism",
            "tourism-demo-pass",
            "4",
            cameras=["scenic-lakeside", TOGGLE_CAMERA],
            alone=True,
        ),
    ]


def short_config(duration_s: float, **changes: Any) -> ShiftConfig:
    """The suite's variant (tests/benchmarks/test_shift.py and `--short`): two walls and
    cycles of about a minute, so every user's action comes round several times in minutes."""
    config = ShiftConfig(
        duration_s=duration_s,
        warmup_s=60,
        search_every_s=60,
        toggle_every_s=70,
        toggle_down_s=15,
        edit_every_s=60,
        ack_after_s=20,
        relay_settle_s=45,
        walls=short_walls(),
        name="shift-short",
    )
    return dataclasses.replace(config, **changes)


def short_walls() -> list[WallSpec]:
    return [
        WallSpec(
            "admin", "admin-demo-pass", "4", tour="department:city_management", tour_seconds=20
        ),
        WallSpec(
            "tourism",
            "tourism-demo-pass",
            "4",
            cameras=["scenic-lakeside", TOGGLE_CAMERA],
            alone=True,
        ),
    ]
