"""`sharpeye status`: every camera's health as a table, from the registry and Redis."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import redis
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from sharpeye.bus.connect import (
    RedisUnavailableError,
    connect_sync,
    resolve_redis_url,
    unreachable_message,
)
from sharpeye.bus.health import (
    UNKNOWN,
    current_frame_age,
    effective_state,
    read_health_sync,
    state_reason,
)
from sharpeye.contracts.health import CameraHealth, CameraState
from sharpeye.registry import Registry, RegistryDiff, RegistryError, RegistryWatcher, load_registry
from sharpeye.settings import Settings

_USERINFO_RE = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")

STATE_STYLES = {
    CameraState.ONLINE.value: "bold green",
    CameraState.DEGRADED.value: "bold yellow",
    CameraState.CONNECTING.value: "cyan",
    CameraState.OFFLINE.value: "bold red",
    CameraState.DISABLED.value: "dim",
    UNKNOWN: "magenta",
}


@dataclass(frozen=True)
class Row:
    camera_id: str
    name: str
    department: str
    state: str
    health: CameraHealth | None
    note: str


def _rows(registry: Registry | None, health: dict[str, CameraHealth], now: float) -> list[Row]:
    rows: list[Row] = []
    listed: set[str] = set()
    if registry is not None:
        departments = registry.departments_by_id
        for camera in registry.cameras:
            listed.add(camera.id)
            h = health.get(camera.id)
            dept = departments.get(camera.department)
            dept_name = dept.name if dept else camera.department
            if not camera.enabled:
                state, note = CameraState.DISABLED.value, "disabled in the registry"
            elif h is None:
                state, note = UNKNOWN, "no health report yet"
            else:
                state = effective_state(h, now).value
                # Why it is not online, in the worker's words; else anything worth knowing.
                note = state_reason(h, now) or h.last_error or _picture(h) or _reader(h)
            rows.append(Row(camera.id, camera.name, dept_name, state, h, note))
    # Reports for cameras the registry no longer lists (or no registry at all): still show them.
    for camera_id in sorted(set(health) - listed):
        h = health[camera_id]
        note = state_reason(h, now) or h.last_error or ""
        if registry is not None:
            note = "not in the registry" + (f"; {note}" if note else "")
        rows.append(Row(camera_id, camera_id, "–", effective_state(h, now).value, h, note))
    return rows


def _num(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def _picture(h: CameraHealth) -> str:
    return f"picture: {', '.join(h.quality_issues)}" if h.quality_issues else ""


def _reader(h: CameraHealth) -> str:
    # The odd camera our own client cannot read: worth knowing, it costs a thread of its own.
    return "read through FFmpeg (pyav reader)" if h.reader == "pyav" else ""


def _strip_userinfo(note: str) -> str:
    # The contract says last_error is already redacted; a buggy worker must still not leak.
    return _USERINFO_RE.sub(r"\1***@", note)


@dataclass(frozen=True)
class _Column:
    header: str
    cell: Callable[[Row, float], str]
    drop_order: int  # lower goes first when the terminal is narrow; 0: never dropped
    numeric: bool = True
    min_width: int = 0  # names shrink (with an ellipsis) down to this before going
    max_width: int | None = None
    legend: str = ""


def _h(row: Row) -> CameraHealth | None:
    # A disabled camera's old report would only mislead.
    return None if row.state == CameraState.DISABLED.value else row.health


COLUMNS = [
    _Column("camera", lambda r, _: r.camera_id, 0, numeric=False),
    _Column("name", lambda r, _: r.name, 4, numeric=False, min_width=12, max_width=28),
    _Column("department", lambda r, _: r.department, 3, numeric=False, min_width=10, max_width=20),
    _Column("state", lambda r, _: r.state, 0, numeric=False),
    _Column("fps", lambda r, _: _num(h.fps if (h := _h(r)) else None), 8),
    _Column("kbps", lambda r, _: _num(h.bitrate_kbps if (h := _h(r)) else None, 0), 5),
    _Column(
        "kf s",
        lambda r, _: _num(h.keyframe_interval_s if (h := _h(r)) else None),
        1,
        legend="kf s: seconds between keyframes",
    ),
    _Column(
        "age s",
        lambda r, now: _num(current_frame_age(h, now) if (h := _h(r)) else None),
        7,
        legend="age s: seconds since the last frame",
    ),
    _Column(
        "err",
        lambda r, _: _num(h.decode_errors if (h := _h(r)) else None),
        2,
        legend="err: decode errors",
    ),
    _Column(
        "recon",
        lambda r, _: _num(h.reconnects if (h := _h(r)) else None),
        6,
        legend="recon: reconnects",
    ),
]
GAP = 2  # rich's padding between columns (one each side, none at the table's edges)


def fit_columns(rows: list[Row], now: float, width: int) -> list[tuple[_Column, int]]:
    """The columns that fit `width`, each with its width, without squeezing ids, states or
    numbers: the least useful go first (keyframe interval, errors, department, ...), names
    shrink (with an ellipsis) before they go. The camera and its state always stay; why a
    camera is not online is printed below the table, where it can wrap."""
    natural = {
        c.header: max([len(c.header), *(len(c.cell(r, now)) for r in rows)]) for c in COLUMNS
    }
    for c in COLUMNS:
        if c.max_width is not None:
            natural[c.header] = min(natural[c.header], c.max_width)
    cols = list(COLUMNS)

    def least(c: _Column) -> int:
        return min(natural[c.header], c.min_width) if c.min_width else natural[c.header]

    def total() -> int:
        return sum(least(c) for c in cols) + GAP * (len(cols) - 1)

    while total() > width and any(c.drop_order for c in cols):
        cols.remove(min((c for c in cols if c.drop_order), key=lambda c: c.drop_order))
    widths = {c.header: natural[c.header] for c in cols}
    # Names give back what is missing, the longest first, never below their minimum.
    spare = width - sum(widths.values()) - GAP * (len(cols) - 1)
    shrinkable = [c for c in cols if c.min_width]
    while spare < 0 and shrinkable:
        c = max(shrinkable, key=lambda c: widths[c.header] - least(c))
        give = min(-spare, widths[c.header] - least(c))
        if give <= 0:
            break
        widths[c.header] -= give
        spare += give
    return [(c, widths[c.header]) for c in cols]


def build_table(rows: list[Row], now: float, width: int = 200) -> Table:
    columns = fit_columns(rows, now, width)
    legend = [c.legend for c, _ in columns if c.legend]
    table = Table(
        # No borders: a status table must fit an 80-column ssh session on a node.
        box=None,
        header_style="bold underline",
        pad_edge=False,
        caption=" · ".join(legend) or None,
        caption_justify="left",
    )
    for c, w in columns:
        if c.numeric:
            table.add_column(c.header, justify="right", no_wrap=True, min_width=w)
        else:
            # Exact widths: rich would otherwise squeeze states and numbers, not names.
            table.add_column(
                c.header, width=w, no_wrap=True, overflow="ellipsis" if c.min_width else "fold"
            )
    for row in rows:
        cells: list[Text | str] = []
        for c, _ in columns:
            value = c.cell(row, now)
            if c.header == "state":
                cells.append(Text(value, style=STATE_STYLES.get(row.state, "")))
            else:
                cells.append(Text(value) if not c.numeric else value)
        table.add_row(*cells)
    return table


def notes(rows: list[Row]) -> list[Text]:
    """One line per camera with something to explain; below the table, so it stays narrow."""
    out: list[Text] = []
    for row in rows:
        if row.note:
            line = Text(f"{row.camera_id}: ", style="bold")
            line.append(_strip_userinfo(row.note), style=STATE_STYLES.get(row.state, ""))
            out.append(line)
    return out


def summary_line(rows: list[Row]) -> Text:
    counts = Counter(row.state for row in rows)
    text = Text(f"{len(rows)} cameras: ")
    order = ["online", "degraded", "connecting", "offline", "disabled", UNKNOWN]
    parts = [s for s in order if counts.get(s)] or ["online"]
    for i, state in enumerate(parts):
        if i:
            text.append(", ")
        text.append(f"{counts.get(state, 0)} {state}", style=STATE_STYLES.get(state, ""))
    return text


def _load_registry(settings: Settings, console: Console) -> Registry | None:
    try:
        return load_registry(settings.registry)
    except (RegistryError, OSError) as e:
        message = f"registry {settings.registry} not usable, showing health only: {e}"
        console.print(Text("warning: ", style="yellow") + Text(message), highlight=False)
        return None


def render(client: redis.Redis, registry: Registry | None, width: int = 200) -> Group:
    now = time.time()
    rows = _rows(registry, read_health_sync(client), now)
    return Group(build_table(rows, now, width), *notes(rows), summary_line(rows))


Renderer = Callable[[redis.Redis, Registry | None, int], Group]


def _render_or_error(
    client: redis.Redis,
    registry: Registry | None,
    settings: Settings,
    console: Console,
    renderer: Renderer,
) -> Group | Text:
    # While watching, a Redis restart is shown and waited out rather than ending the watch.
    try:
        return renderer(client, registry, console.width)
    except (redis.RedisError, OSError) as e:
        message = unreachable_message(resolve_redis_url(settings), e)
        return Text("error: ", style="bold red") + Text(message)


def _error(console: Console, message: str) -> None:
    console.print(Text("error: ", style="bold red") + Text(message), highlight=False)


def show_status(
    settings: Settings,
    watch: bool = False,
    console: Console | None = None,
    cluster: bool = False,
) -> int:
    """Print the table (once, or every second with `watch`); 1 if Redis is unreachable.
    `cluster`: the ingest workers and their camera leases instead of camera health."""
    from sharpeye.status_cluster import render_cluster

    renderer: Renderer = render_cluster if cluster else render
    console = console or Console()
    try:
        client = connect_sync(settings)
    except RedisUnavailableError as e:
        _error(console, str(e))
        return 1
    try:
        registry = _load_registry(settings, console)
        if not watch:
            console.print(renderer(client, registry, console.width))
            return 0
        current = registry

        def on_change(new: Registry, _diff: RegistryDiff) -> None:
            nonlocal current
            current = new

        def on_error(error: RegistryError) -> None:
            # Keep the names we have; the table stays useful while the file is being fixed.
            console.print(Text("warning: ", style="yellow") + Text(str(error)), highlight=False)

        # Registry edited while watching: show the new cameras and names.
        watcher = RegistryWatcher(settings.registry, on_change, on_error, initial=registry)
        with Live(
            renderer(client, current, console.width), console=console, auto_refresh=False
        ) as live:
            while True:
                time.sleep(1.0)
                watcher.poll_once()
                # The terminal's width now: a resized window gets the columns that fit it.
                update = _render_or_error(client, current, settings, console, renderer)
                live.update(update, refresh=True)
    except KeyboardInterrupt:
        return 0
    except (redis.RedisError, OSError) as e:
        _error(console, unreachable_message(resolve_redis_url(settings), e))
        return 1
    finally:
        client.close()
