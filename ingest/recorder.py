"""Recording: each recorded camera's access units, as ingest already reads them (no second
pull, no re-encoding), remuxed into short fragmented-MP4 segments in the evidence store
(`recordings/<camera>/<day>/<start>.mp4`), each indexed as it closes, with the gaps.

The reader threads must never wait on a disk: a camera's `RecordingSink` only appends to an
in-memory queue (bounded in bytes); one writer thread per node (`Recorder`) drains every
camera's queue and writes. When a slow disk lets a queue reach its bound, the sink drops
units until the next keyframe after the queue has half emptied, counts them, and tells the
writer, which closes the segment there and indexes the gap: live video and analytics go on.

A segment is written aside (`.<name>.part`) and renamed into place when closed, so nobody
serves half a file. A new one starts at the first keyframe after `segment_s`, after a
reconnect (a gap), at a change of parameter sets in the stream (a new resolution or
profile: each segment has one set of headers to play with), and after a failure. Times are
the camera's RTP clock anchored to our arrival times (`ingest.segment_time.RtpClock`), so
consecutive segments join exactly (the next starts where the last picture of the previous
ends), whatever the network's jitter.

A disk that fails (full, read-only, gone) costs the recording, never the reader: the segment
is dropped, the failure logged once and shown in the camera's health (`issue`), and opening
is tried again at a keyframe every RETRY_S. Each failure episode is reported once to
`on_episode` (the worker sends it to the command API, which alarms the camera's department),
and so is its end. The end is declared once recording is proven, not when a file opens (a
full disk still lets one be created, then fails the first write): when a segment closes, or
after RESUMED_AFTER_S of the camera's video written since; until then health says stopped.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av

from camera.fmp4 import Fmp4Writer
from camera.rtsp.depacketize import AccessUnit
from camera.spec import RecordPlan
from ingest.recording_index import Gap, RecordingIndex, Segment
from ingest.segment_time import RtpClock, parameter_sets, probe_size

log = logging.getLogger("sharpeye.ingest.recorder")

RETRY_S = 5.0  # a failing disk is tried again this often (at a keyframe)
BEHIND_SHOWN_S = 30.0  # health says the writer fell behind this long after it last did
POLL_S = 0.1  # the writer's idle wait: units wait at most this long in memory
STOP_DRAIN_S = 5.0  # at a stop, what waits is written for this long, then segments close
RESUMED_AFTER_S = 10.0  # after a failure, this much video written says the disk works again


@dataclass(frozen=True)
class _Restart:
    codec: str
    parameter_sets: list[bytes]


@dataclass(frozen=True)
class _Break:
    reason: str  # units were dropped here


class _Stop:
    pass


_Item = tuple[AccessUnit, float] | _Restart | _Break | _Stop


class RecordingSink:
    """One camera's tap (a `ingest.tee.UnitSink`): reader side only appends."""

    def __init__(self, camera_id: str, plan: RecordPlan, max_bytes: int) -> None:
        self.camera_id = camera_id
        self.plan = plan
        self.max_bytes = max_bytes
        self.queue: deque[_Item] = deque()
        # Each counter has one writing thread (reader: queued, writer: taken), so their
        # difference is the backlog without a lock on the hot path.
        self.queued_bytes = 0
        self.taken_bytes = 0
        self.dropped = 0  # units dropped because the writer was behind
        self._dropping = False
        self.behind_at = -1e9  # monotonic time the queue last overflowed
        self.failure: str | None = None  # set by the writer while the disk fails
        self.closed = False

    def add(self, au: AccessUnit, at: float) -> None:
        if self.closed:
            return
        backlog = self.queued_bytes - self.taken_bytes
        if self._dropping:
            if not au.keyframe or backlog > self.max_bytes // 2:
                self.dropped += 1
                return
            self._dropping = False
        elif backlog + len(au.data) > self.max_bytes:
            self._dropping = True
            self.dropped += 1
            self.behind_at = time.monotonic()
            self.queue.append(_Break("writer behind"))
            return
        self.queued_bytes += len(au.data)
        self.queue.append((au, at))

    def restart(self, codec: str, parameter_sets: list[bytes]) -> None:
        self._dropping = False
        self.queue.append(_Restart(codec, list(parameter_sets)))

    def close(self) -> None:
        """The camera is no longer recorded here: the writer closes its segment."""
        self.closed = True
        self.queue.append(_Stop())

    def issue(self) -> tuple[str, str] | None:
        """(quality issue, words for an operator) while recording is not keeping up."""
        if self.failure is not None:
            return "recording_failed", f"recording stopped: {self.failure}"
        if time.monotonic() - self.behind_at < BEHIND_SHOWN_S:
            return (
                "recording_behind",
                f"recording falls behind (disk too slow): {self.dropped} frames not recorded",
            )
        return None


class _Open:
    """The segment being written; its times in the connection's ticks until it closes."""

    def __init__(
        self,
        writer: Fmp4Writer,
        path: Path,
        start: int,
        sets: list[bytes],
        size: tuple[int | None, int | None],
        gap: tuple[float, str] | None,
    ) -> None:
        self.writer = writer
        self.path = path
        self.tmp = path.with_name(f".{path.name}.part")
        self.start = self.end = start
        self.sets = sets
        self.size = size
        self.gap = gap  # (since, why) the camera was not recorded before this segment
        self.after: tuple[int, float] | None = None  # the previous one's end: (ticks, unix)


class _Track:
    """The writer's state for one camera."""

    def __init__(self, sink: RecordingSink) -> None:
        self.sink = sink
        self.codec: str | None = None
        self.sets: list[bytes] = []
        self.clock = RtpClock()
        self.seg: _Open | None = None
        self.gap_from: tuple[float, str] | None = None  # (since, why) not recorded
        # The last closed segment's end, (ticks, unix), when the next one continues it.
        self.chain: tuple[int, float] | None = None
        self.retry_at = 0.0
        self.size: dict[tuple[bytes, ...], tuple[int | None, int | None]] = {}


class Recorder:
    """The node's recording writer: one thread for every recorded camera, plus retention."""

    def __init__(
        self,
        root: Path,
        index: RecordingIndex,
        queue_bytes: int = 16_000_000,
        retention_every_s: float = 60.0,
        on_write: Callable[[str], None] | None = None,
        on_episode: Callable[[str, str | None], None] | None = None,
    ) -> None:
        self.root = root  # the evidence store: segments go under recordings/
        self.index = index
        self.queue_bytes = queue_bytes
        self.retention_every_s = retention_every_s
        self._on_write = on_write  # test hook: called before each unit is written
        # (camera, why) when its recording stops, (camera, None) when it is back; once each
        # per episode, from the writer thread (ingest.recording_events).
        self._on_episode = on_episode
        self._tracks: list[_Track] = []  # a replaced camera's old track until it closes
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._prune_now = threading.Event()
        self.segments_written = 0
        self.failures = 0
        self._recording = threading.Event()  # a camera was recorded: retention has work
        self._thread = threading.Thread(target=self._run, name="ingest-recorder", daemon=True)
        self._retention = threading.Thread(
            target=self._retain, name="ingest-recording-retention", daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        self._retention.start()

    def stop(self) -> None:
        """Close every open segment (indexed), then stop."""
        self._stop.set()
        self._prune_now.set()
        self._thread.join(timeout=10)
        self._retention.join(timeout=10)

    def sink(self, camera_id: str, plan: RecordPlan) -> RecordingSink:
        sink = RecordingSink(camera_id, plan, self.queue_bytes)
        with self._lock:
            for old in self._tracks:
                if old.sink.camera_id == camera_id and not old.sink.closed:
                    old.sink.close()  # replaced (a registry edit): its segment closes first
            self._tracks.append(_Track(sink))
        self._recording.set()
        return sink

    def retain_s(self, camera_id: str) -> float | None:
        with self._lock:
            plans = [t.sink.plan for t in self._tracks if t.sink.camera_id == camera_id]
        return plans[-1].retain_days * 86400.0 if plans else None

    # -- the writer thread ------------------------------------------------------------
    def _run(self) -> None:
        while True:
            stopping = self._stop.is_set()
            with self._lock:
                tracks = list(self._tracks)
            busy = False
            for track in tracks:
                busy |= self._drain(track)
                if track.sink.closed and not track.sink.queue:
                    self._close(track)  # its _Stop was the last item: closed already
                    with self._lock:
                        self._tracks.remove(track)
            self.index.flush()
            if stopping:
                deadline = time.monotonic() + STOP_DRAIN_S
                while any(t.sink.queue for t in tracks) and time.monotonic() < deadline:
                    for track in tracks:
                        self._drain(track)
                for track in tracks:
                    self._close(track)
                self.index.flush()
                return
            if not busy:
                self._stop.wait(POLL_S)

    def _drain(self, track: _Track) -> bool:
        queue = track.sink.queue
        n = 0
        while queue and n < 500:  # then the next camera: one busy camera must not starve them
            item = queue.popleft()
            n += 1
            try:
                self._item(track, item)
            except Exception:  # a bug costs this camera's segment, not the writer thread
                log.exception("camera %s: recording failed", track.sink.camera_id)
                self._fail(track, "internal error (see log)")
        return n > 0

    def _item(self, track: _Track, item: _Item) -> None:
        if isinstance(item, tuple):
            au, at = item
            track.sink.taken_bytes += len(au.data)
            self._unit(track, au, at)
        elif isinstance(item, _Restart):
            self._close(track, gap="camera reconnected")
            track.codec, track.sets = item.codec, item.parameter_sets
            track.clock, track.chain = RtpClock(), None
        elif isinstance(item, _Break):
            self._close(track, gap=item.reason)
        else:
            self._close(track)

    def _unit(self, track: _Track, au: AccessUnit, at: float) -> None:
        if track.codec is None:
            return  # no stream announced yet
        clock = track.clock
        k = clock.ticks(au.rtp_timestamp, at)
        seg = track.seg
        if au.keyframe:
            inband = parameter_sets(au.data, track.codec)
            if seg is None:
                self._open(track, au, k, inband)
            elif (inband and inband != seg.sets) or k - seg.start >= self._cut_after(track):
                self._close(track)  # continuous: no gap
                self._open(track, au, k, inband)
        seg = track.seg
        if seg is None:
            return  # before the first keyframe, or while the disk fails
        if self._on_write is not None:
            self._on_write(track.sink.camera_id)
        try:
            seg.writer.write(au)
        except (OSError, ValueError, av.FFmpegError) as exc:
            self._fail(track, _why(exc))
            return
        seg.end = max(seg.end, k + clock.frame_ticks)
        if track.sink.failure is not None and seg.end - seg.start >= RESUMED_AFTER_S * 90000:
            self._resumed(track)

    @staticmethod
    def _cut_after(track: _Track) -> float:
        # A little early is fine: servers that stamp RTP on arrival jitter each keyframe's
        # time, and "the first keyframe at or after 4 s" should not turn 3.99 s into 6.
        frame = track.clock.frame_ticks
        return track.sink.plan.segment_s * 90000 - min(22500, frame * 2)

    def _open(self, track: _Track, au: AccessUnit, k: int, inband: list[bytes]) -> None:
        if track.sink.failure is not None and time.monotonic() < track.retry_at:
            return
        assert track.codec is not None
        track.clock.roll()
        t = track.clock.unix(k)
        sets = inband or track.sets
        key = tuple(sets)
        if key not in track.size:
            track.size[key] = probe_size(track.codec, sets, au.data)
        cid = track.sink.camera_id
        day = time.strftime("%Y%m%d", time.gmtime(t))
        name = time.strftime("%Y%m%dT%H%M%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"
        path = self.root / "recordings" / cid / day / f"{name}.mp4"
        tmp = path.with_name(f".{path.name}.part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = Fmp4Writer(tmp, track.codec, sets, *track.size[key])
        except (OSError, ValueError, av.FFmpegError) as exc:
            self._fail(track, _why(exc))
            return
        track.seg = _Open(writer, path, k, sets, track.size[key], track.gap_from)
        track.seg.after, track.chain = track.chain, None
        track.gap_from = None

    def _close(self, track: _Track, gap: str | None = None) -> None:
        """Close the open segment (indexed, with the gap before it); `gap`: why the camera
        is not recorded from here."""
        seg, track.seg = track.seg, None
        clock = track.clock
        cid = track.sink.camera_id
        if seg is None:
            if gap is not None and track.gap_from is None and clock.latest_unix is not None:
                track.gap_from = (clock.latest_unix, gap)
            return
        try:
            info = seg.writer.close()
            size = seg.tmp.stat().st_size
            os.replace(seg.tmp, seg.path)
        except (OSError, ValueError, av.FFmpegError) as exc:
            track.seg = seg
            self._fail(track, _why(exc))
            return
        assert track.codec is not None
        # Read now, with the clock's anchor settled (times are the index's, not the name's).
        start = clock.unix(seg.start)
        if seg.after is not None:
            # Continuing the last segment: start where it ended (the anchor may have moved
            # by a few ms since), unless the anchor moved by far (a drifting camera clock).
            ticks, unix = seg.after
            chained = unix + (seg.start - ticks) / 90000
            start = chained if abs(chained - start) < 0.5 else start
        end = start + (seg.end - seg.start) / 90000
        if seg.gap is not None:
            self.index.add_gap(Gap(cid, seg.gap[0], start, seg.gap[1]))
        ref = seg.path.relative_to(self.root).as_posix()
        width, height = seg.size
        self.index.add_segment(
            Segment(cid, start, end, ref, size, info.frames, track.codec, width, height)
        )
        self.segments_written += 1
        if track.sink.failure is not None:
            self._resumed(track)
        track.chain = (seg.end, end) if gap is None else None
        if gap is not None:
            track.gap_from = (end, gap)

    def _fail(self, track: _Track, why: str) -> None:
        """The disk failed: drop the open segment, say so, try again later."""
        seg, track.seg = track.seg, None
        track.chain = None
        if seg is not None:
            with contextlib.suppress(Exception):
                seg.writer.close()
            with contextlib.suppress(OSError):
                seg.tmp.unlink(missing_ok=True)
            if track.gap_from is None:  # the camera is unrecorded since the lost one began
                track.gap_from = seg.gap or (track.clock.unix(seg.start), "recording failed")
        self.failures += 1
        if track.sink.failure is None:
            log.error("camera %s: recording stopped: %s", track.sink.camera_id, why)
            self._episode(track.sink.camera_id, why)
        track.sink.failure = why
        track.retry_at = time.monotonic() + RETRY_S
        if "space" in why.lower():
            self._prune_now.set()  # retention may free room before the next retry

    def _resumed(self, track: _Track) -> None:
        log.warning(
            "camera %s: recording again (was: %s)", track.sink.camera_id, track.sink.failure
        )
        track.sink.failure = None
        self._episode(track.sink.camera_id, None)

    def _episode(self, camera_id: str, why: str | None) -> None:
        if self._on_episode is None:
            return
        try:
            self._on_episode(camera_id, why)
        except Exception:  # telling of it must not stop the writer
            log.exception("camera %s: recording episode not reported", camera_id)

    # -- retention --------------------------------------------------------------------
    def _retain(self) -> None:
        # Retention starts once a camera is recorded (a node that records nothing never opens
        # the store for it); then it runs every period, recording or not.
        while not self._recording.is_set():
            if self._stop.wait(1.0):
                return
        while not self._stop.is_set():
            try:
                self.index.prune(self.root, self.retain_s)
            except Exception:
                log.exception("recording retention pass failed; retrying")
            self._prune_now.wait(self.retention_every_s)
            self._prune_now.clear()


def _why(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text)
