"""`sharpeye gb28181 status`: registered devices, their channels and keepalive ages, read
from Redis (what the SIP service stored), so it works from any node of the cluster.

The state shown is the effective one (`GbDevice.effective_state`): a device whose service
stopped reads offline once its keepalives are overdue, whatever the record says.
"""

from __future__ import annotations

import json
import time

import redis
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sharpeye.bus.gb28181 import read_channels_sync, read_devices_sync
from sharpeye.contracts.gb28181 import GbChannel, GbDevice

STYLES = {"online": "bold green", "offline": "bold red", "unregistered": "dim"}


def _age(now: float, then: float | None) -> str:
    if then is None:
        return "-"
    seconds = max(0.0, now - then)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def snapshot(r: redis.Redis) -> list[tuple[GbDevice, list[GbChannel]]]:
    devices = read_devices_sync(r)
    out: list[tuple[GbDevice, list[GbChannel]]] = []
    for device_id in sorted(devices):
        channels = read_channels_sync(r, device_id)
        out.append((devices[device_id], [channels[c] for c in sorted(channels)]))
    return out


def as_json(rows: list[tuple[GbDevice, list[GbChannel]]], now: float) -> str:
    return json.dumps(
        [
            device.model_dump(mode="json")
            | {
                "effective_state": device.effective_state(now),
                "keepalive_age_s": None
                if device.last_keepalive is None
                else round(now - device.last_keepalive, 1),
                "channels": [c.model_dump(mode="json") for c in channels],
            }
            for device, channels in rows
        ],
        ensure_ascii=False,
        indent=2,
    )


def table(rows: list[tuple[GbDevice, list[GbChannel]]], now: float) -> Table:
    out = Table(title="GB/T 28181 devices", expand=False)
    for column in ("device / channel", "name", "state", "address", "registered", "keepalive"):
        out.add_column(column)
    out.add_column("channels", justify="right")
    for device, channels in rows:
        state = device.effective_state(now)
        catalog = (
            "-" if device.catalog_sum is None else f"{device.catalog_received}/{device.catalog_sum}"
        )
        out.add_row(
            device.device_id,
            device.name,
            Text(state, style=STYLES.get(state, "")),
            f"{device.transport.lower()} {device.address}",
            _age(now, device.registered_at),
            _age(now, device.last_keepalive),
            catalog,
        )
        if state != "online" and device.reason:
            out.add_row("", Text(f"  {device.reason}", style="dim"), "", "", "", "", "")
        for channel in channels:
            out.add_row(
                f"  {channel.channel_id}",
                channel.name,
                Text(channel.status or "-", style="dim"),
                channel.kind,
                "",
                "",
                "",
            )
    return out


def print_status(r: redis.Redis, *, as_json_text: bool = False) -> int:
    now = time.time()
    rows = snapshot(r)
    if as_json_text:
        print(as_json(rows, now))
        return 0
    console = Console()
    if not rows:
        console.print("No GB/T 28181 device has registered (is `sharpeye gb28181` running?).")
        return 0
    console.print(table(rows, now))
    return 0
