"""The relay's command on the `sharpeye` command line (entry point `sharpeye.commands`):
`sharpeye relay`, loaded lazily."""

from __future__ import annotations

import typer

from sharpeye.settings import get_settings


def relay() -> None:
    """Run the WHEP relay: live video for walls, H.264 passthrough."""
    from relay.server import serve

    serve(get_settings())


def register(app: typer.Typer) -> None:
    app.command("relay")(relay)
