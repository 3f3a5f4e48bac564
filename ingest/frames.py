"""Decoded frames handed to analytics through a bounded keep-latest slot per camera."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from camera.rtsp.depacketize import AccessUnit


@dataclass(frozen=True, slots=True)
class SampledFrame:
    camera_id: str
    image: npt.NDArray[np.uint8]  # H×W×3 BGR
    pts_s: float  # stream time (RTP clock, unwrapped)
    received_at: float  # time.time() when the access unit arrived
    keyframe: bool
    seq: int  # 1, 2, … per camera: lets a consumer see what it missed


class FrameSlot:
    """Holds only the newest frame: a slow consumer skips frames, never queues them."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: SampledFrame | None = None
        self.dropped = 0  # frames replaced before anyone took them

    def put(self, frame: SampledFrame) -> None:
        with self._cond:
            if self._frame is not None and not self._taken:
                self.dropped += 1
            self._frame = frame
            self._taken = False
            self._cond.notify_all()

    _taken = True

    def latest(self) -> SampledFrame | None:
        with self._cond:
            self._taken = True
            return self._frame

    def peek(self) -> SampledFrame | None:
        """The newest frame, without counting it as taken (for diagnosis)."""
        with self._cond:
            return self._frame

    def wait_newer(self, seq: int, timeout: float) -> SampledFrame | None:
        """The newest frame with a sequence above `seq`, waiting up to `timeout` seconds."""
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None and self._frame.seq > seq, timeout)
            frame = self._frame
            if frame is None or frame.seq <= seq:
                return None
            self._taken = True
            return frame


@dataclass(frozen=True)
class Clip:
    """A camera's units for an alarm clip, with the codec and parameter sets to mux them."""

    codec: str
    parameter_sets: list[bytes]
    units: list[AccessUnit]
