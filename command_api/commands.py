"""The command API's commands on the `sharpeye` command line (entry point
`sharpeye.commands`): `sharpeye api` and `sharpeye audit verify | anchor`, loaded lazily."""

from __future__ import annotations

import typer

from sharpeye.settings import get_settings


def api() -> None:
    """Run the command API (and the wall's static files)."""
    from command_api.server import serve

    serve(get_settings())


def audit_verify() -> None:
    """Check every record's MAC and every exported anchor; name the first altered record."""
    from command_api.audit.cli import verify_command

    raise typer.Exit(verify_command(get_settings()))


def audit_anchor() -> None:
    """Export the audit chain's head (record, MAC, time) to the anchor directory now."""
    from command_api.audit.cli import anchor_command

    raise typer.Exit(anchor_command(get_settings()))


def register(app: typer.Typer) -> None:
    app.command("api")(api)
    audit_app = typer.Typer(
        no_args_is_help=True, help="The audit log: verify its chain, anchor it."
    )
    audit_app.command("verify")(audit_verify)
    audit_app.command("anchor")(audit_anchor)
    app.add_typer(audit_app, name="audit")
