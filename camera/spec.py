"""How one camera stream is reached and read: the one spec ingest and the relay both pull by.

Ingest hands the engine one per camera (with the frames to sample for analytics); the relay
pulls one per camera and stream kind (`relay.sources.SourceSpec`, this spec with the kind
and the upstream's identity, never sampling: it decodes nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from camera.rtsp.tls import TlsOptions

SamplingMode = Literal["off", "keyframes", "fps"]
# native: our lean client (RTP over TCP, `camera.rtsp`); pyav: FFmpeg's (`camera.ffmpeg`);
# auto: native, switching to pyav when the camera turns out to be beyond the native client;
# gb28181: a GB/T 28181 channel (gb28181://<device>/<channel>), played by INVITE.
ReaderKind = Literal["auto", "native", "pyav", "gb28181"]
# For the pyav reader: auto tries TCP first and takes UDP when the camera refuses TCP.
Transport = Literal["auto", "tcp", "udp"]


@dataclass(frozen=True)
class RecordPlan:
    """Record the stream (ingest): segments of about `segment_s`, kept `retain_days`."""

    segment_s: float = 60.0
    retain_days: float = 30.0


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
    recording: RecordPlan | None = None  # ingest records the stream (sharpeye.registry.recording)

    def __post_init__(self) -> None:
        if self.sampling == "fps" and not self.fps:
            raise ValueError(f"camera {self.camera_id}: sampling 'fps' needs fps > 0")
