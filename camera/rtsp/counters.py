"""The counters every camera reader keeps for its playing connection (`camera.reader`'s
`StreamCounters`): set here once for our RTSP client's `Stream` and the FFmpeg source."""

from __future__ import annotations

import time


class Counters:
    """Read (never written) by the health thread: plain ints and floats, updated by the
    reader alone, so a torn read is one frame off at worst. Times are monotonic."""

    def __init__(self) -> None:
        self.bytes_total = 0
        self.frames_total = 0
        self.keyframes_total = 0
        self.stream_errors = 0
        self.first_frame_at: float | None = None
        self.last_frame_at: float | None = None
        self.last_data_at = time.monotonic()
        self.session_started = self.last_data_at
        self.keyframe_interval_s: float | None = None
