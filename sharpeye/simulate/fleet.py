"""`sharpeye simulate`: a fleet of simulated cameras serving real footage over real RTSP.

Mount paths come from the registry (every stream URL that points at this server) and from
`--cameras N` (`/sim/<clip>/cam0001`...). Paths are `/sim/<clip>/<camera-id>` (open),
`/secure/<clip>/<camera-id>` (RTSP Basic/Digest auth with SHARPEYE_SIM_RTSP_USER /
SHARPEYE_SIM_RTSP_PASSWORD) or `/udp/<clip>/<camera-id>` (open, RTP over UDP only: a TCP
SETUP is answered 461, like firmwares that never learnt interleaving). With `--rtsps-port`
and a certificate the same cameras are also served over RTSPS (RTSP over TLS) on that port.
The registry is read as plain YAML on purpose: the simulator must serve whatever URLs a
registry names, even one the registry's validator would reject.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from sharpeye.simulate.footage import CLIPS, prepare

DEFAULT_USER = "operator"
DEFAULT_PASSWORD = "sim-secret"
LOCAL_HOSTS = ("127.0.0.1", "localhost")
MOUNT_KINDS = ("sim", "secure", "udp")  # open, login required, UDP only (see rtsp_server)


@dataclass(frozen=True)
class SimTls:
    """RTSPS for the simulated fleet: the port and the server's PEM certificate and key."""

    port: int
    cert: Path
    key: Path

    def check(self) -> None:
        for what, path in (("certificate", self.cert), ("key", self.key)):
            if not path.is_file():
                raise SystemExit(f"RTSPS {what} {path} does not exist")


def log(msg: str) -> None:
    print(f"sim-fleet: {msg}", file=sys.stderr, flush=True)


def sim_credentials() -> tuple[str, str]:
    """The user and password the /secure paths accept."""
    return (
        os.environ.get("SHARPEYE_SIM_RTSP_USER") or DEFAULT_USER,
        os.environ.get("SHARPEYE_SIM_RTSP_PASSWORD") or DEFAULT_PASSWORD,
    )


def extra_mount_paths(clip: str, count: int) -> dict[str, str]:
    """`count` open cameras /sim/<clip>/cam0001...; `clip` may be an alias (see resolve_clip)."""
    served = resolve_clip(clip) or clip
    return {f"/sim/{clip}/cam{i:04d}": served for i in range(1, count + 1)}


def scene_clips(data_dir: Path) -> dict[str, Path]:
    """Demo scene clips composed by `python -m analytics.scenes` (fire, junction, crowd, …)."""
    return {p.stem: p for p in sorted((data_dir / "footage").glob("synthetic-*.mkv"))}


def resolve_clip(name: str, extra: Iterable[str] = ()) -> str | None:
    """The clip served for a path's clip segment: a clip name, or `<clip>-360p` (sub stream).

    The demo registry names sub streams `<main clip>-360p` (e.g. vtest-720p-360p): that is
    served by the 360p clip made from the same source (vtest-360p). A composed scene's sub
    stream (synthetic-fire-720p-360p) is the scene's own 360p encoding (synthetic-fire-360p,
    written beside it by `python -m analytics.scenes`), so a wall tile shows its scene.
    """
    extra = set(extra)
    if name in CLIPS or name in extra:
        return name
    if not name.endswith("-360p"):
        return None
    main = name.removesuffix("-360p")
    if main in extra:
        sub = main.removesuffix("-720p") + "-360p"
        return sub if main.endswith("-720p") and sub in extra else None
    base = CLIPS.get(main)
    if base is None:
        return None
    for clip, spec in CLIPS.items():
        if spec.source == base.source and spec.height == 360:
            return clip
    return None


def _stream_urls(doc: Any) -> Iterator[str]:
    cameras = doc.get("cameras") if isinstance(doc, dict) else None
    if isinstance(cameras, dict):  # tolerate a mapping id -> camera as well as a list
        cameras = list(cameras.values())
    for cam in cameras if isinstance(cameras, list) else []:
        streams = cam.get("streams") if isinstance(cam, dict) else None
        if isinstance(streams, dict):
            for key in ("main", "sub"):
                if isinstance(streams.get(key), str):
                    yield streams[key]


def _onvif_stream_urls(registry: Path, onvif_port: int, rtsp_port: int) -> list[str]:
    """URLs the simulated ONVIF devices hand out (GetStreamUri), ONVIF-only cameras included."""
    try:
        from sharpeye.simulate.onvif_peer import registry_devices
    except ImportError:
        return []
    try:
        devices = registry_devices(registry, onvif_port, rtsp_port)
    except (KeyError, TypeError, ValueError) as exc:
        log(f"cannot list the registry's ONVIF devices: {exc!r}")
        return []
    return [u for d in devices for u in (d.rtsp_main, d.rtsp_sub) if u]


def registry_mounts(
    registry: Path,
    rtsp_port: int,
    onvif_port: int = 0,
    extra_clips: Iterable[str] = (),
    rtsps_port: int | None = None,
) -> dict[str, str]:
    """Path -> clip for the registry's URLs that this server must serve: rtsp:// URLs on
    127.0.0.1:rtsp_port and, when it serves TLS, rtsps:// URLs on 127.0.0.1:rtsps_port."""
    doc = yaml.safe_load(registry.read_text(encoding="utf-8"))
    urls = [*_stream_urls(doc), *_onvif_stream_urls(registry, onvif_port, rtsp_port)]
    mounts: dict[str, str] = {}
    for url in urls:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            continue  # malformed URLs are the registry checker's business, not ours
        ours = (parts.scheme == "rtsp" and port == rtsp_port) or (
            parts.scheme == "rtsps" and rtsps_port is not None and port == rtsps_port
        )
        if not ours or parts.hostname not in LOCAL_HOSTS:
            continue
        segs = parts.path.strip("/").split("/")
        if len(segs) != 3 or segs[0] not in MOUNT_KINDS or not all(segs):
            log(f"skipping {parts.path}: not /sim, /secure or /udp followed by /<clip>/<id>")
            continue
        clip = resolve_clip(segs[1], extra_clips)
        if clip is None:
            log(f"skipping {parts.path}: unknown clip {segs[1]!r} (known: {', '.join(CLIPS)})")
            continue
        mounts["/" + "/".join(segs)] = clip
    return mounts


def _start_onvif_devices(registry: Path, onvif_port: int, rtsp_port: int) -> Any:
    """The single call site for the ONVIF device peers of registry cameras with `onvif:`.

    `sharpeye.simulate.onvif_peer.serve_registry_devices` starts them without blocking and
    returns a handle whose `stop()` is called at shutdown.
    """
    try:
        from sharpeye.simulate.onvif_peer import serve_registry_devices
    except ImportError as exc:  # e.g. ipycam missing: the RTSP fleet is still useful
        log(f"ONVIF device peers not available ({exc}); serving RTSP only")
        return None
    try:
        return serve_registry_devices(registry, onvif_port, rtsp_port)
    except OSError as exc:  # e.g. a device port in use: RTSP-only cameras still work
        log(f"cannot start the ONVIF device peers: {exc}; serving RTSP only")
        return None


def run_fleet(
    data_dir: Path,
    registry: Path | None,
    extra_cameras: int,
    clip: str,
    rtsp_port: int,
    onvif_port: int,
    tls: SimTls | None = None,
) -> None:
    """Serve the fleet on 127.0.0.1 until SIGINT/SIGTERM (also over RTSPS with `tls`)."""
    if resolve_clip(clip) is None:
        raise SystemExit(f"unknown clip {clip!r}; choose one of: {', '.join(CLIPS)}")
    if tls is not None:
        tls.check()
    clips = prepare(data_dir)  # quick when the clips exist; `make footage` normally made them
    scenes = scene_clips(data_dir)
    clips = {**clips, **scenes}
    mounts = (
        registry_mounts(registry, rtsp_port, onvif_port, scenes, tls.port if tls else None)
        if registry is not None
        else {}
    )
    if registry is not None:
        ports = f"{rtsp_port}" + (f" (rtsps: {tls.port})" if tls is not None else "")
        log(f"{len(mounts)} stream paths of {registry} point at 127.0.0.1:{ports}")
    mounts |= extra_mount_paths(clip, extra_cameras)
    if not mounts:
        log("no cameras to serve: pass --cameras N or a --registry naming this server")
    # gi is Debian's and untyped; the server module is kept out of mypy and imported late so
    # `sharpeye --help` and the footage command work without GStreamer.
    server_mod = importlib.import_module("sharpeye.simulate.rtsp_server")
    user, password = sim_credentials()
    listener = server_mod.TlsListener(tls.port, tls.cert, tls.key) if tls is not None else None
    server = server_mod.FleetServer(rtsp_port, mounts, clips, user, password, listener)
    onvif = _start_onvif_devices(registry, onvif_port, rtsp_port) if registry is not None else None
    try:
        server.run()
    finally:
        stop = getattr(onvif, "stop", None)
        if callable(stop):
            stop()
