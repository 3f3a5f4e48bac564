"""`sharpeye onvif discover | probe`: tables on stdout, one clear line on stderr and exit 1 on
failure. Credentials come from environment variables, never from the command line (where
they would land in shell history and `ps`)."""

from __future__ import annotations

import asyncio
import os

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from camera.onvif.client import DeviceReport, choose_streams, probe_device
from camera.onvif.discovery import DiscoveredDevice
from camera.onvif.discovery import discover as ws_discover
from camera.onvif.errors import OnvifError


def discover(timeout: float) -> int:
    out, err = _console(), _console(stderr=True)
    try:
        with err.status("WS-Discovery…") as status:
            # A spinner on a terminal; plain lines for logs and pipes, where it would not show.
            devices = ws_discover(timeout, progress=status.update if err.is_terminal else err.print)
    except OSError as exc:
        err.print(
            f"[red]WS-Discovery failed:[/] {escape(str(exc))}: check that this host has a "
            "network interface with multicast enabled and a route for 239.255.255.250"
        )
        return 1
    if not devices:
        err.print(
            f"No ONVIF device answered within {timeout:g} s. Devices answer only on the local "
            "network segment; check that discovery is enabled on the cameras, or probe one "
            "directly: sharpeye onvif probe HOST PORT"
        )
        return 0
    out.print(_discovery_table(devices))
    return 0


def probe(host: str, port: int, username_env: str | None, password_env: str | None) -> int:
    err = _console(stderr=True)
    try:
        username = _env(username_env, "user")
        password = _env(password_env, "password")
    except LookupError as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        return 1
    try:
        report = asyncio.run(probe_device(host, port, username, password))
    except OnvifError as exc:
        err.print(f"[red]{type(exc).__name__}:[/] {escape(str(exc))}", highlight=False)
        return 1
    _print_report(report)
    return 0


def _console(stderr: bool = False) -> Console:
    console = Console(stderr=stderr, soft_wrap=True)
    if not console.is_terminal:
        # Logs and pipes: rich would fold tables at 80 columns, splitting the URIs.
        console = Console(stderr=stderr, soft_wrap=True, width=160)
    return console


def _env(name: str | None, what: str) -> str:
    if name is None:
        return ""
    value = os.environ.get(name)
    if value is None:
        raise LookupError(f"the environment variable {name} (the device {what}) is not set")
    return value


def _discovery_table(devices: list[DiscoveredDevice]) -> Table:
    table = Table(title=f"ONVIF devices ({len(devices)})")
    for column in ("Name", "Hardware", "Host:port", "XAddrs", "Endpoint"):
        table.add_column(column, overflow="fold")
    for dev in devices:
        hp = dev.host_port
        cells = (dev.name, dev.hardware, f"{hp[0]}:{hp[1]}" if hp else dev.sender)
        # Device-supplied text may hold "[...]" (IPv6 hosts), which rich would read as markup.
        table.add_row(*(escape(c or "") for c in (*cells, "\n".join(dev.xaddrs), dev.epr)))
    return table


def _print_report(report: DeviceReport) -> None:
    out = _console()
    info = Table(title=f"ONVIF device {report.host}:{report.port}", show_header=False)
    info.add_column(style="bold")
    info.add_column()
    for label, value in (
        ("Manufacturer", report.manufacturer),
        ("Model", report.model),
        ("Firmware", report.firmware),
        ("Serial", report.serial),
        ("Hardware ID", report.hardware_id),
    ):
        info.add_row(label, escape(value))
    out.print(info)
    profiles = Table(title="Media profiles")
    for column in ("Token", "Name", "Encoding", "Resolution", "FPS", "Stream URI (RTSP)"):
        profiles.add_column(column, overflow="fold")
    for p in report.profiles:
        size = f"{p.width}x{p.height}" if p.width and p.height else ""
        fps = f"{p.fps:g}" if p.fps is not None else ""
        uri = escape(p.stream_uri) if p.stream_uri else f"[red]{escape(p.stream_error or '-')}[/]"
        profiles.add_row(escape(p.token), escape(p.name), p.encoding or "", size, fps, uri)
    out.print(profiles)
    try:
        main, sub = choose_streams(report)
    except OnvifError:
        return  # no profile with a stream URI: the table already shows why
    out.print(f"streams.main: {main}\nstreams.sub:  {sub or '(none)'}", markup=False)
