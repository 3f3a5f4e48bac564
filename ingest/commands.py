"""ingest's commands on the `sharpeye` command line (entry point `sharpeye.commands`):
`sharpeye ingest` and `sharpeye onvif discover | probe`. Implementations load lazily, so
`sharpeye --help` stays fast and needs no media stack."""

from __future__ import annotations

from typing import Annotated

import typer

from sharpeye.settings import get_settings


def ingest() -> None:
    """Run an ingest worker for the registry's cameras, publishing health to Redis."""
    from ingest.worker import run_worker

    run_worker(get_settings())


def onvif_discover(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for ProbeMatches.")] = 3.0,
) -> None:
    """WS-Discovery on the local network: list ONVIF devices that answer."""
    from camera.onvif.cli import discover

    raise typer.Exit(discover(timeout))


def onvif_probe(
    host: Annotated[str, typer.Argument()],
    port: Annotated[int, typer.Argument()] = 80,
    username_env: Annotated[str | None, typer.Option(help="Env var holding the user.")] = None,
    password_env: Annotated[str | None, typer.Option(help="Env var holding the password.")] = None,
) -> None:
    """Ask one ONVIF device for its information, profiles and stream URIs."""
    from camera.onvif.cli import probe

    raise typer.Exit(probe(host, port, username_env, password_env))


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    onvif_app = typer.Typer(no_args_is_help=True, help="ONVIF discovery and device queries.")
    onvif_app.command("discover")(onvif_discover)
    onvif_app.command("probe")(onvif_probe)
    app.add_typer(onvif_app, name="onvif")
