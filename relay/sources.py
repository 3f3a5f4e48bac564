"""Which RTSP URL (and login) the relay pulls for a camera and stream kind.

The registry names the streams, or an ONVIF device supplies them (asked once, then cached
until the registry changes). A camera without a sub stream serves its main stream to tiles.
Logins, URLs and the spec's fields are resolved by `camera.resolve`, as ingest's fleet does.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from camera.resolve import (
    Login,
    onvif_login,
    onvif_stream_urls,
    reach,
    rtsp_login,
    rtsp_or_onvif,
)
from camera.rtsp.tls import TlsOptions
from camera.spec import ReaderKind, StreamSpec, Transport
from sharpeye.registry import Camera, Registry
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
            rtsp = rtsp_login(camera, self.secrets_file)
            if camera.streams is not None:
                main, sub = camera.streams.main, camera.streams.sub
            else:
                main, sub, rtsp = await self._from_onvif(camera, rtsp)
        except CredentialError as exc:
            raise SourceError(f"camera {camera_id}: {exc}") from None
        kind: StreamKind = "sub" if stream == "sub" and sub is not None else "main"
        url = sub if kind == "sub" and sub is not None else main
        return SourceSpec(**reach(camera, url, rtsp), stream=kind)

    async def _from_onvif(self, camera: Camera, rtsp: Login) -> tuple[str, str | None, Login]:
        from camera.onvif.errors import OnvifError

        onvif = onvif_login(camera, self.secrets_file)
        async with self._lock:
            cached = self._onvif.get(camera.id)
            if cached is None:
                try:
                    cached = await onvif_stream_urls(camera, onvif)
                except OnvifError as exc:
                    raise SourceError(f"camera {camera.id}: ONVIF device: {exc}") from None
                self._onvif[camera.id] = cached
        return cached[0], cached[1], rtsp_or_onvif(rtsp, onvif)
