"""analytics' command on the `sharpeye` command line (entry point `sharpeye.commands`):
`sharpeye analyze FILE`, loaded lazily (the detectors need the media stack)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sharpeye.settings import get_settings


def analyze(
    file: Annotated[Path, typer.Argument(help="An image or a video file.")],
    profile: Annotated[
        str, typer.Option(help="Analytics profile (default, vehicles, all...).")
    ] = "all",
    tag: Annotated[
        list[str] | None, typer.Option(help="Camera tags (fire-watch, crowd...).")
    ] = None,
    fps: Annotated[float, typer.Option(help="Frames analysed per second of video; 0 = all.")] = 2.0,
    config: Annotated[
        Path | None, typer.Option(help="analytics YAML (detector, thresholds).")
    ] = None,
    registry: Annotated[
        Path | None, typer.Option(help="Take zones/lines from this registry...")
    ] = None,
    camera: Annotated[str | None, typer.Option(help="...camera id of it.")] = None,
    model: Annotated[
        str | None, typer.Option(help="An imported YOLO model to detect with.")
    ] = None,
    plate_watch: Annotated[list[str] | None, typer.Option(help="Plates to raise hits for.")] = None,
    face_watch: Annotated[Path | None, typer.Option(help="Dir of <person>/<photo>.jpg.")] = None,
) -> None:
    """Analyse a file: detections, events and sightings as JSON lines on stdout."""
    from analytics.analyze import run

    raise typer.Exit(
        run(
            file,
            get_settings().data_dir,
            profile=profile,
            tags=tag or [],
            fps=fps or None,
            config_file=config,
            registry=registry,
            camera_id=camera,
            detector_model=model,
            plate_watch=plate_watch,
            face_watch=face_watch,
        )
    )


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze)
