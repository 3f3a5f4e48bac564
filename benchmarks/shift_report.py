"""What a shift's samples say: memory trends, restarts, tile playback, alarm latencies, and
the figures written to benchmarks/results/shift.json (names fixed, so every run reads alike).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, Figure, machine, today, write_results
from benchmarks.shift_platform import ProcSample
from benchmarks.shift_walls import TileSample


@dataclass
class AlarmSeen:
    """One alarm raised during the run, and where and when it arrived."""

    id: str
    camera: str
    departments: list[str]
    occurred_at: float
    created_at: float
    rule: str = ""
    walls: dict[str, float] = field(default_factory=dict)  # wall name → first shown
    # Deliveries to the duty receiver: "path change" → {idempotency key: first arrival}.
    receiver: dict[str, dict[str, float]] = field(default_factory=dict)

    def first_delivery(self) -> float | None:
        times = [t for keys in self.receiver.values() for t in keys.values()]
        return min(times) if times else None


@dataclass
class ShiftData:
    started: float = 0.0
    warm_from: float = 0.0
    ended: float = 0.0
    planned_s: float = 0.0
    procs: list[ProcSample] = field(default_factory=list)
    tiles: list[TileSample] = field(default_factory=list)
    alarms: dict[str, AlarmSeen] = field(default_factory=dict)
    wall_departments: dict[str, str] = field(default_factory=dict)
    wall_created: dict[str, dict[str, int]] = field(default_factory=dict)
    login_prompts: dict[str, int] = field(default_factory=dict)
    camera_stops: list[tuple[float, float]] = field(default_factory=list)
    resume_s: list[float] = field(default_factory=list)
    searches: list[dict[str, Any]] = field(default_factory=list)
    registry_edits: list[dict[str, Any]] = field(default_factory=list)
    acks: int = 0
    request_errors: list[dict[str, Any]] = field(default_factory=list)
    restarts: int = 0
    pid_changes: dict[str, int] = field(default_factory=dict)
    tracebacks: dict[str, int] = field(default_factory=dict)
    log_lines: int = 0
    cameras_online: list[float] = field(default_factory=list)  # fraction online per poll
    relay_cold_mb: float = 0.0  # before any viewer
    relay_idle_mb: float = 0.0  # after a first wall came and went
    relay_after_mb: float = 0.0
    page_errors: dict[str, list[str]] = field(default_factory=dict)
    # Inside the processes, once a minute: the API's SQLite memory, Redis's own accounting
    # and its streams' lengths (what RSS alone cannot tell apart from a leak).
    internals: list[dict[str, float]] = field(default_factory=list)
    token_ttl_s: float = 900.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


def growth_per_hour(samples: list[ProcSample], warm_from: float) -> float:
    """Least-squares slope of RSS after warm-up, as % of its mean per hour."""
    rows = [(s.t, s.rss_mb) for s in samples if s.t >= warm_from]
    if len(rows) < 3:
        return 0.0
    n = len(rows)
    mt = sum(t for t, _ in rows) / n
    mr = sum(r for _, r in rows) / n
    var = sum((t - mt) ** 2 for t, _ in rows)
    if var == 0 or mr == 0:
        return 0.0
    slope = sum((t - mt) * (r - mr) for t, r in rows) / var  # MB per second
    return slope * 3600 / mr * 100


def by_role(samples: list[ProcSample]) -> dict[str, list[ProcSample]]:
    """Each role's samples; after a restart only the newest process counts for its trend."""
    out: dict[str, list[ProcSample]] = {}
    for s in samples:
        out.setdefault(s.role, []).append(s)
    for role, rows in out.items():
        last_pid = rows[-1].pid
        out[role] = [r for r in rows if r.pid == last_pid]
    return out


def alarm_outcomes(data: ShiftData) -> dict[str, Any]:
    """Lost: an alarm routed to a department with a wall that never showed it, or never
    delivered to the receiver. Duplicated: one alarm 'created' twice on a wall, or delivered
    twice."""
    walls_by_dept: dict[str, list[str]] = {}
    for wall, dept in data.wall_departments.items():
        walls_by_dept.setdefault(dept, []).append(wall)
    lost_wall: list[str] = []
    lost_receiver: list[str] = []
    to_wall: list[float] = []
    to_receiver: list[float] = []
    to_store: list[float] = []
    for alarm in data.alarms.values():
        to_store.append(max(0.0, alarm.created_at - alarm.occurred_at) * 1000)
        for dept in alarm.departments:
            for wall in walls_by_dept.get(dept, []):
                seen = alarm.walls.get(wall)
                if seen is None:
                    lost_wall.append(f"{alarm.id}→{wall}")
                else:
                    to_wall.append(max(0.0, seen - alarm.occurred_at) * 1000)
        # Each routed department's duty desk (level 0) must have had it.
        for dept in alarm.departments:
            if not any(k.startswith(f"/duty/{dept}/0 ") for k in alarm.receiver):
                lost_receiver.append(f"{alarm.id}→{dept}")
        first = alarm.first_delivery()
        if first is not None:
            to_receiver.append(max(0.0, first - alarm.occurred_at) * 1000)
    dup_wall = [
        f"{alarm_id}@{wall}"
        for wall, counts in data.wall_created.items()
        for alarm_id, n in counts.items()
        if n > 1
    ]
    # One delivery (path and change) sent under two idempotency keys would ring a phone twice.
    dup_receiver = [
        f"{a.id}:{key}"
        for a in data.alarms.values()
        for key, ids in a.receiver.items()
        if len(ids) > 1
    ]
    return {
        "raised": len(data.alarms),
        "by_rule": _count(a.rule for a in data.alarms.values()),
        "lost_wall": lost_wall,
        "lost_receiver": lost_receiver,
        "duplicated_wall": dup_wall,
        "duplicated_receiver": dup_receiver,
        "event_to_wall_ms": to_wall,
        "event_to_receiver_ms": to_receiver,
        "event_to_store_ms": to_store,
    }


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


def figures(data: ShiftData, playing: int, counted: int) -> list[Figure]:
    m, d = machine(), today()
    roles = by_role(data.procs)
    growth = {role: growth_per_hour(rows, data.warm_from) for role, rows in roles.items()}
    worst_role = max(growth, key=lambda r: growth[r]) if growth else "none"
    outcomes = alarm_outcomes(data)
    run_h = (data.ended - data.started) / 3600
    online = sum(data.cameras_online) / len(data.cameras_online) if data.cameras_online else 0
    lost = len(outcomes["lost_wall"]) + len(outcomes["lost_receiver"])
    dup = len(outcomes["duplicated_wall"]) + len(outcomes["duplicated_receiver"])
    store_p99 = percentile(outcomes["event_to_store_ms"], 99)

    def fig(
        name: str, value: float, unit: str, anchor: str, anchor_value: float, goal: str
    ) -> Figure:
        clean = 0.0 if math.isnan(value) else round(value, 3)
        anchor_clean = 0.0 if math.isnan(anchor_value) else round(anchor_value, 3)
        return Figure(name, clean, unit, anchor, anchor_clean, goal, m, d)

    return [
        fig(
            "worst RSS growth per hour",
            growth.get(worst_role, 0.0),
            f"%/h ({worst_role})",
            "embedded Redis RSS growth, same run (%/h)",
            growth.get("redis", 0.0),
            "≤ 2 %/h, ≈ 0",
        ),
        fig(
            "unplanned restarts",
            data.restarts + sum(data.pid_changes.values()),
            "restarts",
            "planned camera stops",
            len(data.camera_stops),
            "0",
        ),
        fig("tracebacks", sum(data.tracebacks.values()), "", "log lines", data.log_lines, "0"),
        fig(
            "tiles playing",
            100.0 * playing / counted if counted else 0.0,
            "% of tile-time",
            "cameras online in ingest health (% of polls)",
            100.0 * online,
            "100 %",
        ),
        fig(
            "logins lost",
            sum(data.login_prompts.values()),
            "prompts",
            "token lifetimes elapsed per wall",
            (data.ended - data.started) / max(1.0, data.token_ttl_s),
            "0",
        ),
        fig("alarms lost", lost, "alarms", "alarms raised", outcomes["raised"], "0"),
        fig("alarms duplicated", dup, "alarms", "alarms raised", outcomes["raised"], "0"),
        fig(
            "event to wall p99",
            percentile(outcomes["event_to_wall_ms"], 99),
            "ms",
            "event to store p99 (alarm created)",
            store_p99,
            "—",
        ),
        fig(
            "event to receiver p99",
            percentile(outcomes["event_to_receiver_ms"], 99),
            "ms",
            "event to store p99 (alarm created)",
            store_p99,
            "—",
        ),
        fig(
            "camera back to playing, worst",
            max(data.resume_s) if data.resume_s else float("nan"),
            "s",
            "relay's reconnect ceiling (s)",
            2.0,
            "≤ 5 s",
        ),
        fig("run length", run_h, "h", "planned length (h)", data.planned_s / 3600, "≥ 2 h"),
        fig(
            "relay RSS after viewers leave vs idle",
            data.relay_after_mb / data.relay_idle_mb if data.relay_idle_mb else float("nan"),
            "ratio",
            "relay idle RSS after a first wall came and went (MB)",
            data.relay_idle_mb,
            "≤ 1.10",
        ),
    ]


def flat(samples: list[ProcSample], warm_from: float) -> dict[str, dict[str, float]]:
    """Open files and threads of each role: first and last after warm-up (should be flat)."""
    out: dict[str, dict[str, float]] = {}
    for role, rows in by_role(samples).items():
        warm = [r for r in rows if r.t >= warm_from] or rows
        out[role] = {
            "files_first": warm[0].open_files,
            "files_last": warm[-1].open_files,
            "threads_first": warm[0].threads,
            "threads_last": warm[-1].threads,
            "rss_first_mb": round(warm[0].rss_mb, 1),
            "rss_last_mb": round(warm[-1].rss_mb, 1),
        }
    return out


def plot(data: ShiftData, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (mem, lat) = plt.subplots(2, 1, figsize=(10, 8))
    for role, rows in sorted(by_role(data.procs).items()):
        mem.plot([(r.t - data.started) / 60 for r in rows], [r.rss_mb for r in rows], label=role)
    mem.axvline((data.warm_from - data.started) / 60, color="grey", linestyle=":")
    mem.set_xlabel("minutes into the shift")
    mem.set_ylabel("RSS (MB)")
    mem.set_title("Memory of each process (dotted: end of warm-up)")
    mem.legend(fontsize="small", ncol=3)
    wall_points: list[tuple[float, float]] = []
    receiver_points: list[tuple[float, float]] = []
    for alarm in data.alarms.values():
        x = (alarm.occurred_at - data.started) / 60
        wall_points += [(x, (t - alarm.occurred_at) * 1000) for t in alarm.walls.values()]
        first = alarm.first_delivery()
        if first is not None:
            receiver_points.append((x, (first - alarm.occurred_at) * 1000))
    if wall_points:
        lat.scatter(*zip(*wall_points, strict=True), s=8, label="event → wall")
    if receiver_points:
        lat.scatter(*zip(*receiver_points, strict=True), s=8, label="event → duty receiver")
    lat.set_xlabel("minutes into the shift")
    lat.set_ylabel("latency (ms)")
    lat.set_title("Alarm latency over the shift")
    if wall_points or receiver_points:
        lat.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write(data: ShiftData, name: str, details: dict[str, Any], figs: list[Figure]) -> Path:
    path = write_results(name, figs)
    plot(data, RESULTS / f"{name}.png")
    rows = {
        "details": details,
        "procs": [asdict(p) for p in data.procs],
        "alarms": [asdict(a) for a in data.alarms.values()],
        "internals": data.internals,
    }
    (RESULTS / f"{name}.rows.json").write_text(json.dumps(rows, ensure_ascii=False) + "\n")
    return path
