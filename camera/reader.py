"""The camera reader interface: what every reader hands the service that drives it.

Two readers exist, and GB/T 28181 media and recording are to plug in the same way:
- our RTSP/RTSPS client (`camera.rtsp`): `open_session`, then `Stream.feed` with the bytes
  the service's selector (ingest) or event loop (the relay) reads, an `Assembler` turning
  RTP into access units when the service wants them (ingest only demuxes most frames);
- FFmpeg (`camera.ffmpeg_source.FfmpegSource`), on a thread of the service's, for cameras
  our client cannot read (`camera.ffmpeg.can_fall_back` says when `auto` may switch).

Both yield `AccessUnit`s (Annex B, one whole picture, its 90 kHz timestamp) and keep the
same counters (`StreamCounters`), which is all a camera's health reads: a service treats a
camera the same whichever reader plays it. The threads, selectors and event loops that
drive a reader stay with the service (hundreds of cameras on one selector thread in ingest,
the relay's loop), which is why the interface is data (access units, counters), not a
driver.
"""

from __future__ import annotations

from typing import Protocol

from camera.rtsp.depacketize import AccessUnit

__all__ = ["AccessUnit", "StreamCounters"]


class StreamCounters(Protocol):
    """One playing connection's counters, read from another thread (plain numbers, no
    locks: a torn read is one frame off, never wrong for long). Times are monotonic."""

    @property
    def bytes_total(self) -> int: ...
    @property
    def frames_total(self) -> int: ...  # access units (pictures)
    @property
    def keyframes_total(self) -> int: ...
    @property
    def stream_errors(self) -> int: ...  # corrupt or unparseable input
    @property
    def first_frame_at(self) -> float | None: ...
    @property
    def last_frame_at(self) -> float | None: ...
    @property
    def last_data_at(self) -> float: ...  # any byte: a stall is no data for a while
    @property
    def session_started(self) -> float: ...
    @property
    def keyframe_interval_s(self) -> float | None: ...
