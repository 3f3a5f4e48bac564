"""Per-camera health, published by ingest workers and read by the API and `sharpeye status`."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class CameraState(StrEnum):
    CONNECTING = "connecting"
    ONLINE = "online"
    # Frames arrive but something is wrong: low fps, decode errors, a missing keyframe.
    DEGRADED = "degraded"
    OFFLINE = "offline"
    DISABLED = "disabled"


class CameraHealth(BaseModel):
    """One camera's health as seen by the worker that owns it. Never carries credentials."""

    model_config = ConfigDict(extra="forbid")

    camera_id: str
    node_id: str = Field(description="The ingest worker's node that owns this camera.")
    state: CameraState
    fps: float = Field(0.0, ge=0, description="Frames per second over the last window.")
    bitrate_kbps: float = Field(0.0, ge=0, description="Video bitrate over the last window.")
    keyframe_interval_s: float | None = Field(
        None, ge=0, description="Seconds between the last two keyframes."
    )
    last_frame_age_s: float | None = Field(
        None, ge=0, description="Seconds since the last complete frame; None before the first."
    )
    decode_errors: int = Field(0, ge=0)
    reconnects: int = Field(0, ge=0)
    frames_total: int = Field(0, ge=0)
    frames_decoded: int = Field(0, ge=0)
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    last_error: str | None = Field(None, description="Last error, credentials redacted.")
    # Optional so that reports from workers older than this field still parse.
    reason: str | None = Field(
        None,
        description="Why the camera is not online, in words for an operator (e.g. 'picture "
        "frozen for 12 s', 'no frame for 8 s', the connection error); None when online.",
    )
    reader: Literal["native", "pyav", "gb28181"] | None = Field(
        None,
        description="Which client reads the camera: native (Sharpeye's own RTSP, RTP over "
        "TCP), pyav (FFmpeg's, for cameras the native one cannot read: UDP only, answers "
        "it cannot parse) or gb28181 (a GB/T 28181 channel played by INVITE, PS over RTP). "
        "None while the camera is not handed to a reader.",
    )
    quality_issues: list[str] = Field(
        default_factory=list,
        description="Picture problems from the last diagnosis: black, overexposed, "
        "low_contrast, blurred, frozen.",
    )
    brightness: float | None = Field(None, description="Mean luma (0-255) at the last diagnosis.")
    sharpness: float | None = Field(
        None, description="Variance of the Laplacian at the last diagnosis (low: blurred)."
    )
    updated_at: float = Field(description="Unix time of this report.")
    fence: int | None = Field(
        None,
        ge=1,
        description="Fencing token of the worker's lease on the camera: a report with a lower "
        "token than the stored one (a worker whose lease passed on) is refused.",
    )
