"""`sharpeye gb28181 status`: registered devices, what they say they are and how they are
doing, their channels (and the registry camera each plays as), keepalive ages and the
streams open, read from Redis through the read model the API shows too
(`sharpeye.bus.gb28181_view`), so it works from any node and says what the API says.

Laid out for a 100-column terminal: a device is a few lines of text (Rich wraps them, so
nothing is cut), its channels a borderless table whose widest cells are the 20-digit IDs.
The state shown is the effective one: a device whose service stopped reads offline once
its keepalives are overdue, whatever the record says.
"""

from __future__ import annotations

import json
import time

import redis
from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from sharpeye.bus.gb28181_view import (
    ChannelCameras,
    DeviceView,
    channel_cameras,
    present,
    read_view_sync,
)
from sharpeye.contracts.gb28181 import GbCall, GbDeviceInfo, GbDeviceStatus
from sharpeye.registry import RegistryError, load_registry
from sharpeye.settings import Settings

STYLES = {"online": "bold green", "offline": "bold red", "unregistered": "dim"}
WIDTH = 100  # what the layout is made for (tests render at this width)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def registry_cameras(settings: Settings) -> ChannelCameras:
    """Channel -> camera from the registry; none if it cannot be read (the status still
    shows the devices: it is what one looks at when things are wrong)."""
    try:
        return channel_cameras(load_registry(settings.registry).cameras)
    except (RegistryError, OSError):
        return {}


def _on(value: bool | None) -> str:
    return "?" if value is None else ("on" if value else "off")


def _info_line(info: GbDeviceInfo) -> str:
    if info.result != "OK":
        return "DeviceInfo: the device answered ERROR"
    parts = [f"{info.manufacturer or '?'} {info.model or '?'}", f"firmware {info.firmware or '?'}"]
    if info.channels is not None:
        parts.append(f"{info.channels} channels")
    if info.device_name:
        parts.append(f"calls itself {info.device_name}")
    return " · ".join(parts)


def _status_line(status: GbDeviceStatus, now: float) -> str:
    if status.result != "OK":
        return f"DeviceStatus: ERROR {status.reason}".strip()
    said = "online" if status.online else "offline"
    parts = [f"says {said}, {'OK' if status.status_ok else 'ERROR'}"]
    if status.reason:
        parts.append(status.reason)
    parts += [f"encode {_on(status.encode)}", f"record {_on(status.record)}"]
    alarming = [a.alarm_id for a in status.alarms if a.duty == "ALARM"]
    if status.alarms:
        parts.append(f"alarms {len(alarming)}/{len(status.alarms)}")
    parts.append(f"asked {_age(now - status.received_at)} ago")
    line = " · ".join(parts)
    if alarming:
        line += "\nalarming: " + ", ".join(alarming[:8]) + (" ..." if len(alarming) > 8 else "")
    return line


def _stream(call: GbCall, now: float) -> str:
    return f"{call.role} {call.node_id} {_age(now - call.since)}"


def device_block(view: DeviceView, now: float) -> RenderableType:
    d = view.device
    head = Text()
    head.append(d.device_id, style="bold")
    head.append(f"  {d.name}  ")
    head.append(view.state, style=STYLES.get(view.state, ""))
    head.append(f"  {d.transport.lower()} {d.address}")
    if view.state != "online" and d.reason:
        head.append(f"  ({d.reason})", style="dim")
    catalog = "-" if d.catalog_sum is None else f"{d.catalog_received}/{d.catalog_sum}"
    lines: list[RenderableType] = [
        Text(
            f"registered {_age(now - d.registered_at)} ago · expires in "
            f"{_age(d.expires_at - now)} · keepalive {_age(view.keepalive_age_s)} ago · "
            f"catalog {catalog} · streams {len(view.streams)}"
        ),
    ]
    if view.info is not None:
        lines.append(Text(_info_line(view.info), style="cyan"))
    if view.status is not None:
        lines.append(Text(_status_line(view.status, now), style="cyan"))
    if view.channels:
        table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, show_edge=False)
        table.add_column("channel", no_wrap=True)
        table.add_column("name", max_width=18, overflow="fold")
        table.add_column("status", no_wrap=True)
        table.add_column("camera", max_width=20, overflow="fold")
        table.add_column("streams open", max_width=30, overflow="fold")
        for c in view.channels:
            table.add_row(
                c.channel.channel_id,
                c.channel.name,
                c.channel.status or "-",
                c.camera_id or "-",
                "\n".join(_stream(s, now) for s in c.streams) or "-",
            )
        lines.append(table)
    # Indented as a block, so a line Rich wraps stays under its device.
    return Group(head, Padding(Group(*lines), (0, 0, 0, 2)))


def render(views: list[DeviceView], now: float) -> RenderableType:
    online = sum(v.state == "online" for v in views)
    streams = sum(len(v.streams) for v in views)
    title = Text(
        f"GB/T 28181 devices: {len(views)} registered, {online} online, {streams} streams open",
        style="bold",
    )
    blocks: list[RenderableType] = [title]
    for view in views:
        blocks += [Text(""), device_block(view, now)]
    return Group(*blocks)


def as_json(views: list[DeviceView], now: float) -> str:
    shown = [present(v, now, full=True).model_dump(mode="json") for v in views]
    return json.dumps(shown, ensure_ascii=False, indent=2)


def print_status(r: redis.Redis, settings: Settings, *, as_json_text: bool = False) -> int:
    now = time.time()
    views = read_view_sync(r, registry_cameras(settings), now)
    if as_json_text:
        print(as_json(views, now))
        return 0
    console = Console()
    if not views:
        console.print("No GB/T 28181 device has registered (is `sharpeye gb28181` running?).")
        return 0
    console.print(render(views, now))
    return 0
