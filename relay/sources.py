"""Which RTSP URL (and login) the relay pulls for a camera and stream kind.

The registry names the streams, or an ONVIF device supplies them (asked once, then cached
until the registry changes). A camera without a sub stream serves its main stream to tiles.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from camera.rtsp.tls import TlsOptions, tls_options
from camera.spec import ReaderKind, StreamSpec, Transport
from sharpeye.registry import Camera, Registry, resolve_credentials
from sharpeye.registry.errors import CredentialError

StreamKind = Literal["main", "sub"]
# (camera, stream, url, user, password digest, TLS trust, reader, transport)
UpstreamKey = tuple[str, str, str, str | None, str, TlsOptions | None, ReaderKind, Transport, bool]


class SourceError(Exception):
    """The camera cannot be pulled (unknown, disabled, no credentials, ONVIF down)."""


@dataclass(frozen=True, kw_only=True)
class SourceSpec(StreamSpec):
    """camera/'s spec of how the stream is reached, with the kind pulled and the upstream's
    identity. The relay decodes nothing: `sampling` stays "off"."""

    stream: StreamKind  # the kind actually pulled (sub may fall back to main)

    @property
    def key(self) -> UpstreamKey:
        # Everything that decides how the camera is reached is in the key, so a registry edit
        # (a moved camera, a new password, a renewed certificate's pin) gives new viewers a
        # new upstream instead of one still trying the old way; the old one closes when idle.
        # The password enters as a digest: keys show up in debuggers and reprs.
        secret = hashlib.sha256((self.password or "").encode()).hexdigest()
        return (
            self.camera_id,
            self.stream,
            self.url,
            self.username,
            secret,
            self.tls,
            self.reader,
            self.transport,
            self.allow_plain_basic,
        )


class Sources:
    def __init__(self, registry: Registry, secrets_file: Path | None) -> None:
        self.registry = registry
        self.secrets_file = secrets_file
        self._onvif: dict[str, tuple[str, str | None]] = {}
        self._lock = asyncio.Lock()

    def update(self, registry: Registry) -> None:
        self.registry = registry
        self._onvif.clear()

    def camera(self, camera_id: str) -> Camera:
        camera = self.registry.cameras_by_id.get(camera_id)
        if camera is None:
            raise SourceError(f"no camera with id {camera_id!r}")
        return camera

    async def resolve(self, camera_id: str, stream: StreamKind) -> SourceSpec:
        camera = self.camera(camera_id)
        if not camera.enabled:
            raise SourceError(f"camera {camera_id} is disabled in the registry")
        try:
            user, password = self._credentials(camera)
            if camera.streams is not None:
                main, sub = camera.streams.main, camera.streams.sub
            else:
                main, sub, user, password = await self._from_onvif(camera, user, password)
        except CredentialError as exc:
            raise SourceError(f"camera {camera_id}: {exc}") from None
        tls = tls_options(camera.tls)
        kind: StreamKind = "sub" if stream == "sub" and sub is not None else "main"
        return SourceSpec(
            camera_id=camera_id,
            stream=kind,
            url=sub if kind == "sub" and sub is not None else main,
            username=user,
            password=password,
            tls=tls,
            reader=camera.ingest.reader,
            transport=camera.ingest.transport,
            allow_plain_basic=camera.credentials is not None
            and camera.credentials.allow_basic_on_plain_rtsp,
        )

    def _credentials(self, camera: Camera) -> tuple[str | None, str | None]:
        if camera.credentials is None:
            return None, None
        creds = resolve_credentials(camera.credentials, self.secrets_file)
        return creds.username, creds.password

    async def _from_onvif(
        self, camera: Camera, user: str | None, password: str | None
    ) -> tuple[str, str | None, str | None, str | None]:
        from camera.onvif.client import fill_stream_urls
        from camera.onvif.errors import OnvifError

        assert camera.onvif is not None
        ouser = opwd = None
        if camera.onvif.credentials is not None:
            creds = resolve_credentials(camera.onvif.credentials, self.secrets_file)
            ouser, opwd = creds.username, creds.password
        async with self._lock:
            cached = self._onvif.get(camera.id)
            if cached is None:
                try:
                    cached = await fill_stream_urls(
                        camera.onvif.host,
                        camera.onvif.port,
                        ouser or "",
                        opwd or "",
                        camera.onvif.profile,
                    )
                except OnvifError as exc:
                    raise SourceError(f"camera {camera.id}: ONVIF device: {exc}") from None
                self._onvif[camera.id] = cached
        # As in ingest: RTSP credentials default to the ONVIF login (one account per camera).
        if user is None:
            user, password = ouser, opwd
        return cached[0], cached[1], user, password
