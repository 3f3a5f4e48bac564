"""The last seconds of a camera's access units, in memory, so an alarm raised now still gets
a clip from before it, whether or not the camera is recorded.

Kept as whole GOPs (a clip must start at a keyframe to play): the oldest GOP is dropped once
the ones after it still cover the window, or when the buffer passes its byte budget (a
camera with a long GOP or a high bitrate is bounded by bytes, not seconds). Written by the
thread that reads the camera, read by whoever cuts a clip: one lock, held for list work only.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from camera.rtsp.depacketize import AccessUnit


@dataclass
class _Gop:
    start: float  # unix time the keyframe arrived
    units: list[tuple[float, AccessUnit]] = field(default_factory=list)
    nbytes: int = 0


class ClipBuffer:
    def __init__(self, seconds: float, max_bytes: int) -> None:
        if seconds <= 0 or max_bytes <= 0:
            raise ValueError("a clip buffer needs a positive window and byte budget")
        self.seconds = seconds
        self.max_bytes = max_bytes
        self._gops: deque[_Gop] = deque()
        self._nbytes = 0
        self._lock = threading.Lock()
        # The stream the units belong to, as its reader announced it (restart).
        self.codec: str | None = None
        self.parameter_sets: list[bytes] = []

    def add(self, au: AccessUnit, at: float) -> None:
        """One unit as it arrived (`at`: unix time). Units before the first keyframe are
        dropped: nothing could decode them."""
        with self._lock:
            if au.keyframe:
                self._gops.append(_Gop(at))
            elif not self._gops:
                return
            gop = self._gops[-1]
            gop.units.append((at, au))
            gop.nbytes += len(au.data)
            self._nbytes += len(au.data)
            self._evict(at)

    def _evict(self, now: float) -> None:
        gops = self._gops
        while len(gops) > 1 and (
            now - gops[1].start >= self.seconds or self._nbytes > self.max_bytes
        ):
            self._nbytes -= gops.popleft().nbytes

    def clip(self, start: float, end: float) -> list[AccessUnit]:
        """The units from the last keyframe at or before `start` (the oldest kept, if the
        buffer begins later) through `end` (unix times)."""
        with self._lock:
            gops = list(self._gops)
            first = 0
            for i, gop in enumerate(gops):
                if gop.start <= start:
                    first = i
            return [au for gop in gops[first:] for at, au in gop.units if at <= end]

    def restart(self, codec: str, parameter_sets: list[bytes]) -> None:
        """A new connection: what was held is of another stream (its timestamps, perhaps its
        codec and parameter sets), so a clip must not splice the two."""
        with self._lock:
            self._gops.clear()
            self._nbytes = 0
            self.codec = codec
            self.parameter_sets = list(parameter_sets)

    @property
    def nbytes(self) -> int:
        return self._nbytes

    def span(self) -> tuple[float, float] | None:
        """(oldest, newest) arrival times held, or None when empty."""
        with self._lock:
            if not self._gops:
                return None
            return self._gops[0].start, self._gops[-1].units[-1][0]
