"""From a registry camera to how it is reached: its logins, its stream URLs (the registry's,
or those its ONVIF device hands out) and the rest of its spec (TLS trust, reader, transport,
plain-Basic consent).

Ingest's fleet and the relay's sources both resolve a camera here, so a rule about reaching
one is written once; each keeps its own policy around it (the fleet retries an ONVIF device
with backoff and reports the camera offline meanwhile, the relay answers the viewer at once
and caches the URLs until the registry changes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from camera.rtsp.tls import TlsOptions, tls_options
from camera.spec import ReaderKind, Transport
from sharpeye.registry import Camera
from sharpeye.registry.credentials import resolve_credentials
from sharpeye.registry.schema import CredentialRef
from sharpeye.registry.urls import is_gb28181_url


@dataclass(frozen=True)
class Login:
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never shown


class Reach(TypedDict):
    """The fields of `camera.spec.StreamSpec` (and the relay's `SourceSpec`) that say how the
    camera is reached; each service adds its own (sampling, the stream kind)."""

    camera_id: str
    url: str
    username: str | None
    password: str | None
    tls: TlsOptions | None
    reader: ReaderKind
    transport: Transport
    allow_plain_basic: bool


def login(ref: CredentialRef | None, secrets_file: Path | None) -> Login:
    """The login a credential reference names (none without one); raises CredentialError."""
    if ref is None:
        return Login()
    creds = resolve_credentials(ref, secrets_file)
    return Login(creds.username, creds.password)


def onvif_login(camera: Camera, secrets_file: Path | None) -> Login:
    assert camera.onvif is not None
    return login(camera.onvif.credentials, secrets_file)


def rtsp_login(camera: Camera, secrets_file: Path | None) -> Login:
    """The camera's own RTSP login (none without one); raises CredentialError."""
    return login(camera.credentials, secrets_file)


def rtsp_or_onvif(rtsp: Login, onvif: Login) -> Login:
    """The RTSP login of a camera reached through ONVIF: its own, else the ONVIF login
    (cameras share one account)."""
    return rtsp if rtsp.username is not None else onvif


async def onvif_stream_urls(camera: Camera, onvif: Login) -> tuple[str, str | None]:
    """(main, sub) stream URLs from the camera's ONVIF device; raises OnvifError."""
    from camera.onvif.client import fill_stream_urls  # zeep and its WSDLs: only when needed

    assert camera.onvif is not None
    return await fill_stream_urls(
        camera.onvif.host,
        camera.onvif.port,
        onvif.username or "",
        onvif.password or "",
        camera.onvif.profile,
    )


def reach(camera: Camera, url: str, rtsp: Login) -> Reach:
    """How to reach `url` of `camera` with the `rtsp` login, as the registry says."""
    return Reach(
        camera_id=camera.id,
        url=url,
        username=rtsp.username,
        password=rtsp.password,
        tls=tls_options(camera.tls),
        # A GB/T 28181 channel is not RTSP: its own reader, whatever ingest.reader says.
        reader="gb28181" if is_gb28181_url(url) else camera.ingest.reader,
        transport=camera.ingest.transport,
        allow_plain_basic=camera.credentials is not None
        and camera.credentials.allow_basic_on_plain_rtsp,
    )
