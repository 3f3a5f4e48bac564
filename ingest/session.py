"""One camera's life in the engine: connection, counters across reconnects, health."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Literal, Protocol

from camera.clip_buffer import ClipBuffer
from camera.reader import StreamCounters
from camera.rtsp.stream import Stream
from camera.spec import StreamSpec
from ingest.decode import Decoder
from ingest.frames import FrameSlot
from ingest.quality import Diagnosis
from ingest.recorder import RecordingSink
from ingest.tee import Tee, UnitSink
from sharpeye.backoff import Backoff
from sharpeye.contracts.health import CameraHealth, CameraState
from sharpeye.logs import Outage

ERROR_WINDOW_S = 10.0  # errors this recent make a camera "degraded"
FRAME_LATE_S = 2.0  # no frame for this long, while connected: "degraded"
RATE_WINDOW_S = 1.0  # fps and bitrate are averaged over at least this long


class ReaderThread(Protocol):
    """A camera's own reader thread (`ingest.pyav_reader.PyavReader`), as the engine drives it."""

    def stop(self) -> None: ...
    def join(self, timeout: float | None = None) -> None: ...


@dataclass
class _Window:
    at: float = 0.0
    frames: int = 0
    bytes: int = 0
    errors: int = 0


@dataclass(eq=False)
class Session:
    spec: StreamSpec
    backoff: Backoff
    # A camera down for a day is retried every ≤ 15 s: its log is the first failure, a
    # reminder every few minutes and the recovery, not 5,760 lines (sharpeye.logs.Outage).
    outage: Outage = field(default_factory=lambda: Outage(logging.getLogger("ingest.engine")))
    slot: FrameSlot = field(default_factory=FrameSlot)
    stream: Stream | None = None  # playing on the native reader
    # Playing on a reader thread of its own: FFmpeg's (PyAV) or a GB/T 28181 channel's.
    pyav_stream: StreamCounters | None = None
    pyav: ReaderThread | None = None  # the camera's own reader thread, once it has one
    reader: Literal["native", "pyav", "gb28181"] = "native"
    decoder: Decoder | None = None
    # The last seconds of the camera for alarm clips (analysed cameras only: a camera that
    # is only demuxed raises no events and pays nothing for clips).
    clips: ClipBuffer | None = None
    # The camera's recording tap (cameras whose registry entry asks for recording).
    recorder: RecordingSink | None = None
    # Where the playing connection's units go (None: demux only, nothing wants units).
    tee: Tee | None = None
    connecting: bool = False
    ever_connected: bool = False
    next_attempt: float = 0.0
    generation: int = 0
    reconnects: int = 0
    last_error: str | None = None
    codec: str | None = None
    # Totals of closed connections (the live stream's counters are added on read).
    frames_base: int = 0
    decoded_base: int = 0
    errors_base: int = 0
    fps: float = 0.0
    kbps: float = 0.0
    last_error_at: float = -1e9
    last_frame_at: float | None = None  # monotonic, survives reconnects
    keyframe_interval_s: float | None = None
    diagnosis: Diagnosis = field(default_factory=Diagnosis)
    next_diagnosis: float = 0.0  # monotonic
    diagnosing: bool = False
    # (seq, received_at) of the last sampled frame diagnosed: the slot may still hold it at the
    # next diagnosis (decoder stalled, keyframes rarer than diagnoses), and a frame compared
    # with itself would read as a frozen picture.
    diagnosed_frame: tuple[int, float] | None = None
    _win: _Window = field(default_factory=_Window)

    def __post_init__(self) -> None:
        if self.spec.reader in ("pyav", "gb28181"):
            self.reader = self.spec.reader

    @property
    def sinks(self) -> list[UnitSink]:
        """What takes every access unit of the camera, whichever reader plays it."""
        return [s for s in (self.clips, self.recorder) if s is not None]

    def live(self) -> StreamCounters | None:
        """The playing connection's counters, whichever reader has it."""
        return self.stream if self.stream is not None else self.pyav_stream

    def errors_total(self) -> int:
        live = 0
        if self.stream is not None:
            live += self.stream.stream_errors
            asm = self.stream.assembler
            live += asm.lost if asm is not None else 0
        if self.pyav_stream is not None:
            live += self.pyav_stream.stream_errors
        if self.decoder is not None:
            live += self.decoder.decode_errors
        return self.errors_base + live

    def frames_total(self) -> int:
        live = self.live()
        return self.frames_base + (live.frames_total if live is not None else 0)

    def decoded_total(self) -> int:
        return self.decoded_base + (self.decoder.frames_decoded if self.decoder else 0)

    def retire_stream(self) -> None:
        """Fold the closing connection's counters into the totals."""
        self.errors_base = self.errors_total()
        self.frames_base = self.frames_total()
        self.decoded_base = self.decoded_total()
        live = self.live()
        if live is not None:
            self.last_frame_at = live.last_frame_at or self.last_frame_at
        if self.decoder is not None:
            self.decoder.close()
        self.stream = self.pyav_stream = None
        self.decoder = None
        self.tee = None
        self.diagnosing = False
        self.fps = self.kbps = 0.0

    def tick(self, now: float) -> None:
        """Update the rates over the last window (called about once a second)."""
        w = self._win
        s = self.live()
        frames = self.frames_total()
        nbytes = s.bytes_total if s is not None else 0
        errors = self.errors_total()
        if s is not None:
            self.last_frame_at = s.last_frame_at or self.last_frame_at
            self.keyframe_interval_s = s.keyframe_interval_s or self.keyframe_interval_s
        dt = now - w.at
        if w.at and dt < RATE_WINDOW_S:
            return
        if w.at and s is not None:
            self.fps = max(0, frames - w.frames) / dt
            self.kbps = max(0, nbytes - w.bytes) * 8 / 1000 / dt if nbytes >= w.bytes else 0.0
        if errors > w.errors:
            self.last_error_at = now
        self._win = _Window(now, frames, nbytes, errors)

    def state(self, now: float) -> CameraState:
        live = self.live()
        if live is None:
            return CameraState.CONNECTING if not self.ever_connected else CameraState.OFFLINE
        if live.last_frame_at is None:
            return CameraState.CONNECTING
        if now - live.last_frame_at > FRAME_LATE_S:
            return CameraState.DEGRADED
        if now - self.last_error_at < ERROR_WINDOW_S or self.errors_total() > self._win.errors:
            return CameraState.DEGRADED
        if self.diagnosis.issues:  # streaming fine, but the picture is useless
            return CameraState.DEGRADED
        return CameraState.ONLINE

    def last_frame_age(self, now: float) -> float | None:
        """Seconds since the last frame, never negative: reader threads stamp frames with the
        same monotonic clock but may do so after `now` was read (a frame landing while the
        health of many cameras is built), which made ages like -0.008 s."""
        live = self.live()
        last_frame = (live.last_frame_at if live else None) or self.last_frame_at
        return round(max(0.0, now - last_frame), 3) if last_frame is not None else None

    def reason(self, state: CameraState, now: float) -> str | None:
        """Why the camera is not simply online, in words for an operator."""
        if state is CameraState.ONLINE:
            return None
        age = self.last_frame_age(now)
        if state is CameraState.OFFLINE:
            return self.last_error or (
                f"no frame for {age:.0f} s" if age is not None else "not connected"
            )
        if state is CameraState.CONNECTING:
            return self.last_error or "connecting"
        if age is not None and age > FRAME_LATE_S:
            return f"no frame for {age:.0f} s"
        picture = self.diagnosis.describe(now)
        if self.errors_total() > self._win.errors or now - self.last_error_at < ERROR_WINDOW_S:
            errors = f"stream or decode errors in the last {ERROR_WINDOW_S:.0f} s"
            return f"{errors}; {picture}" if picture else errors
        return picture or self.last_error or "degraded"

    def health(self, node_id: str, now: float) -> CameraHealth:
        state = self.state(now)
        if state == CameraState.CONNECTING and self.last_error and not self.connecting:
            state = CameraState.OFFLINE  # never reached: say so, with the reason
        reason = self.reason(state, now)
        issues = list(self.diagnosis.issues)
        # A recording that fails or falls behind: live video is fine, but the operator must
        # know the camera is not being recorded.
        recording = self.recorder.issue() if self.recorder is not None else None
        if recording is not None:
            issues.append(recording[0])
            reason = recording[1] if reason is None else f"{reason}; {recording[1]}"
            if state is CameraState.ONLINE:
                state = CameraState.DEGRADED
        d = self.decoder
        return CameraHealth(
            camera_id=self.spec.camera_id,
            node_id=node_id,
            state=state,
            fps=round(self.fps, 2),
            bitrate_kbps=round(self.kbps, 1),
            keyframe_interval_s=self.keyframe_interval_s,
            last_frame_age_s=self.last_frame_age(now),
            decode_errors=self.errors_total(),
            reconnects=self.reconnects,
            frames_total=self.frames_total(),
            frames_decoded=self.decoded_total(),
            codec=self.codec,
            width=d.width if d else None,
            height=d.height if d else None,
            last_error=self.last_error,
            reason=reason,
            reader=self.reader,
            quality_issues=issues,
            brightness=q.brightness if (q := self.diagnosis.last) else None,
            sharpness=q.sharpness if q else None,
            updated_at=time.time(),
        )
