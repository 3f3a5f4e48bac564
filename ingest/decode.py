"""Decoding the access units analytics asked for, off the reader thread.

Keyframe mode: each keyframe decodes on its own, so only the newest waits (keep-latest).
FPS mode: P-frames need their references, so every access unit is decoded in order, but
only one frame per 1/fps of stream time is converted to an image (the costly step). If
decoding falls behind, the backlog is dropped up to the next keyframe rather than grown.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from concurrent.futures import Executor
from typing import cast

import av
import numpy as np
import numpy.typing as npt
from av.video.codeccontext import VideoCodecContext

from camera.rtsp.depacketize import AccessUnit
from ingest.frames import FrameSlot, SampledFrame

log = logging.getLogger(__name__)
MAX_BACKLOG = 100  # access units; two GOPs at 25 fps with GOP 50


class Decoder:
    def __init__(
        self,
        camera_id: str,
        codec: str,
        executor: Executor,
        slot: FrameSlot,
        keyframes_only: bool,
        fps: float | None,
        parameter_sets: list[bytes],
    ) -> None:
        self.camera_id = camera_id
        self._executor = executor
        self._slot = slot
        self._keyframes_only = keyframes_only
        self._period = 1.0 / fps if fps else 0.0
        self._ctx = cast(VideoCodecContext, av.CodecContext.create(codec, "r"))
        if keyframes_only:
            # Belt and braces: only keyframes reach us, and the decoder skips any other.
            self._ctx.skip_frame = "NONKEY"
        self._prefix = b"".join(b"\x00\x00\x00\x01" + p for p in parameter_sets)
        self._queue: deque[tuple[AccessUnit, float]] = deque()
        self._lock = threading.Lock()
        self._scheduled = False
        self._wait_key = True
        self._next_pts: float | None = None
        self._ts_base: int | None = None
        self._ts_wraps = 0
        self._last_ts = 0
        self._seq = 0
        self.frames_decoded = 0
        self.decode_errors = 0
        self.dropped_backlog = 0
        self.width: int | None = None
        self.height: int | None = None
        self._closed = False

    def submit(self, au: AccessUnit) -> None:
        """Called on the reader thread for each assembled access unit."""
        with self._lock:
            if self._wait_key and not au.keyframe:
                return
            self._wait_key = False
            if self._keyframes_only:
                self._queue.clear()
            elif len(self._queue) >= MAX_BACKLOG:
                self._queue.clear()
                self.dropped_backlog += 1
                self._wait_key = True
                if not au.keyframe:
                    return
                self._wait_key = False
            self._queue.append((au, time.time()))
            if self._scheduled or self._closed:
                return
            self._scheduled = True
        self._executor.submit(self._drain)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._queue.clear()

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue or self._closed:
                    self._scheduled = False
                    return
                au, received = self._queue.popleft()
            try:
                self._decode(au, received)
            except Exception:  # never let one camera's bug kill the shared pool
                log.exception("camera %s: decoder failed", self.camera_id)
                self.decode_errors += 1

    def _stream_time(self, ts: int) -> float:
        if self._ts_base is None:
            self._ts_base = ts
        elif ts < self._last_ts and self._last_ts - ts > 0x80000000:
            self._ts_wraps += 1
        self._last_ts = ts
        return (ts + (self._ts_wraps << 32) - self._ts_base) / 90000.0

    def _decode(self, au: AccessUnit, received: float) -> None:
        data = self._prefix + au.data if au.keyframe else au.data
        pts = self._stream_time(au.rtp_timestamp)
        try:
            frames = self._ctx.decode(av.Packet(data))
        except (av.error.InvalidDataError, ValueError) as exc:
            self.decode_errors += 1
            log.debug("camera %s: undecodable access unit: %s", self.camera_id, exc)
            return
        for frame in frames:
            self.frames_decoded += 1
            if frame.is_corrupt:
                self.decode_errors += 1
            self.width, self.height = frame.width, frame.height
            if self._period:
                if self._next_pts is not None and pts + 1e-6 < self._next_pts:
                    continue
                base = self._next_pts if self._next_pts is not None else pts
                # Catch up in whole periods so the rate holds on average; computed, not
                # looped, since a timestamp jump (camera reboot) can span millions of them.
                if base <= pts:
                    base += (math.floor((pts - base) / self._period) + 1) * self._period
                self._next_pts = base
            self._seq += 1
            image = cast("npt.NDArray[np.uint8]", frame.to_ndarray(format="bgr24"))
            self._slot.put(
                SampledFrame(
                    camera_id=self.camera_id,
                    image=image,
                    pts_s=pts,
                    received_at=received,
                    keyframe=au.keyframe,
                    seq=self._seq,
                )
            )
