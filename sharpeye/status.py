"""`sharpeye status`: every camera's health as a table, from the registry and Redis."""

from __future__ import annotations

import re
import time
from collections import Counter
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
    stale_reason,
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
                note = stale_reason(h, now) or h.last_error or _picture(h) or _reader(h)
            rows.append(Row(camera.id, camera.name, dept_name, state, h, note))
    # Reports for cameras the registry no longer lists (or no registry at all): still show them.
    for camera_id in sorted(set(health) - listed):
        h = health[camera_id]
        note = stale_reason(h, now) or h.last_error or ""
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


def _metrics(row: Row, now: float) -> list[str]:
    h = row.health
    # A disabled camera's old report would only mislead.
    if h is None or row.state == CameraState.DISABLED.value:
        return ["–"] * 6
    return [
        _num(h.fps),
        _num(h.bitrate_kbps, 0),
        _num(h.keyframe_interval_s),
        _num(current_frame_age(h, now)),
        _num(h.decode_errors),
        _num(h.reconnects),
    ]


def build_table(rows: list[Row], now: float) -> Table:
    table = Table(
        # No borders: a status table must fit an 80-column ssh session on a node.
        box=None,
        header_style="bold underline",
        pad_edge=False,
        caption="kf s: seconds between keyframes · age s: seconds since the last frame · "
        "err: decode errors · recon: reconnects",
        caption_justify="left",
    )
    # Ids, states and numbers never wrap; names and notes give way on narrow terminals.
    table.add_column("camera", no_wrap=True)
    table.add_column("name", min_width=8, max_width=28, no_wrap=True, overflow="ellipsis")
    table.add_column("department", min_width=8, max_width=20, no_wrap=True, overflow="ellipsis")
    table.add_column("state", no_wrap=True)
    for name in ("fps", "kbps", "kf s", "age s", "err", "recon"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            row.camera_id,
            Text(row.name),
            Text(row.department),
            Text(row.state, style=STATE_STYLES.get(row.state, "")),
            *_metrics(row, now),
        )
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


def render(client: redis.Redis, registry: Registry | None) -> Group:
    now = time.time()
    rows = _rows(registry, read_health_sync(client), now)
    return Group(build_table(rows, now), *notes(rows), summary_line(rows))


def _render_or_error(
    client: redis.Redis, registry: Registry | None, settings: Settings
) -> Group | Text:
    # While watching, a Redis restart is shown and waited out rather than ending the watch.
    try:
        return render(client, registry)
    except (redis.RedisError, OSError) as e:
        message = unreachable_message(resolve_redis_url(settings), e)
        return Text("error: ", style="bold red") + Text(message)


def _error(console: Console, message: str) -> None:
    console.print(Text("error: ", style="bold red") + Text(message), highlight=False)


def show_status(settings: Settings, watch: bool = False, console: Console | None = None) -> int:
    """Print the table (once, or every second with `watch`); 1 if Redis is unreachable."""
    console = console or Console()
    try:
        client = connect_sync(settings)
    except RedisUnavailableError as e:
        _error(console, str(e))
        return 1
    try:
        registry = _load_registry(settings, console)
        if not watch:
            console.print(render(client, registry))
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
        with Live(render(client, current), console=console, auto_refresh=False) as live:
            while True:
                time.sleep(1.0)
                watcher.poll_once()
                live.update(_render_or_error(client, current, settings), refresh=True)
    except KeyboardInterrupt:
        return 0
    except (redis.RedisError, OSError) as e:
        _error(console, unreachable_message(resolve_redis_url(settings), e))
        return 1
    finally:
        client.close()
