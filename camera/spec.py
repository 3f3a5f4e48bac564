"""What an ingest engine is asked to pull: one entry per camera."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ingest.rtsp.tls import TlsOptions

SamplingMode = Literal["off", "keyframes", "fps"]
# native: our lean client (RTP over TCP); pyav: FFmpeg's (ingest.pyav_reader); auto: native,
# switching to pyav when the camera turns out to be beyond the native client.
ReaderKind = Literal["auto", "native", "pyav"]
# For the pyav reader: auto tries TCP first and takes UDP when the camera refuses TCP.
Transport = Literal["auto", "tcp", "udp"]


@dataclass(frozen=True)
class StreamSpec:
    camera_id: str
    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never shown
    sampling: SamplingMode = "off"
    fps: float | None = None
    tls: TlsOptions | None = None  # whom to trust for rtsps:// (None: the system CA store)
    reader: ReaderKind = "auto"
    transport: Transport = "auto"
    # RTSP Basic (the password in clear text) on plain rtsp://, only where the registry says.
    allow_plain_basic: bool = False

    def __post_init__(self) -> None:
        if self.sampling == "fps" and not self.fps:
            raise ValueError(f"camera {self.camera_id}: sampling 'fps' needs fps > 0")
