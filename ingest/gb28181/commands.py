"""`sharpeye gb28181` (serve) and `sharpeye gb28181 status`, plugged into the command line
through the `sharpeye.commands` entry point `gb28181` (pyproject.toml). Implementations load
lazily, so `sharpeye --help` stays fast."""

from __future__ import annotations

from typing import Annotated

import typer

from sharpeye.settings import get_settings


def gb28181(ctx: typer.Context) -> None:
    """Run the GB/T 28181 SIP service: devices register (Digest), keep alive and report
    their catalogs; state goes to Redis. Configured by the registry's gb28181: section."""
    if ctx.invoked_subcommand is not None:
        return
    from ingest.gb28181.serve import serve

    serve(get_settings())


def status(
    json_output: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
) -> None:
    """Registered devices (what they are, how they are doing), their channels and the
    cameras they play as, keepalive ages and streams open (from Redis)."""
    from ingest.gb28181.status import print_status
    from sharpeye.bus.connect import RedisUnavailableError, connect_sync

    settings = get_settings()
    try:
        r = connect_sync(settings)
    except RedisUnavailableError as exc:
        typer.echo(f"gb28181 status: {exc}", err=True)
        raise typer.Exit(1) from exc
    try:
        raise typer.Exit(print_status(r, settings, as_json_text=json_output))
    finally:
        r.close()


def register(app: typer.Typer) -> None:
    gb_app = typer.Typer(
        invoke_without_command=True,
        help="GB/T 28181: with no command, run the SIP service devices register to "
        "(the registry's gb28181: section); `status` lists them.",
    )
    gb_app.callback()(gb28181)
    gb_app.command("status")(status)
    app.add_typer(gb_app, name="gb28181")
