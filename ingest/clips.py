"""Alarm clips: each event an ingest worker raises gets the camera's video around it.

The camera's last seconds are in its clip buffer (camera.clip_buffer, filled by whichever
reader plays it, analysed cameras only). An event is published at once with the reference
its clip will have (`clips/<camera>/<day>/<event>.mp4`), and the clip is cut when the window
after the event has arrived: from the keyframe at or before `occurred_at - before` to
`occurred_at + after`, remuxed to fragmented MP4 (camera.fmp4, no decoding) and renamed into
place, so the evidence route never serves half a file. Until then the API answers 404.

The window is the widest any registry alarm rule asks for the event's type on that camera
(`clip_before_s`/`clip_after_s`, 10 s each by default); an event no rule names gets none.
Events that fall inside a clip already planned for their camera share it: a rule firing
every second must not write a clip a second. A full or failing disk loses the clip, logged
and counted, never the event.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av

from camera.fmp4 import Fmp4Writer
from ingest.frames import Clip
from sharpeye.contracts.events import Event, EvidenceRef
from sharpeye.registry import Camera
from sharpeye.registry.alarm_rules import RuleSpec

log = logging.getLogger("sharpeye.ingest.clips")

# Clips planned and not yet written, across cameras: beyond it an event goes without one.
MAX_PENDING = 256
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(order=True)
class _Job:
    due: float  # unix time the window after the event has arrived
    camera_id: str = field(compare=False)
    start: float = field(compare=False)
    end: float = field(compare=False)
    ref: str = field(compare=False)


class ClipRecorder:
    def __init__(
        self,
        cut: Callable[[str, float, float], Clip | None],
        root: Path,
        rules: Callable[[], Sequence[RuleSpec]] = list,
        cameras: Callable[[], Mapping[str, Camera]] = dict,
        *,
        settle_s: float = 1.0,
    ) -> None:
        self._cut = cut
        self.root = root
        self._rules = rules
        self._cameras = cameras
        self._settle_s = settle_s  # the last units of the window are still on their way
        self._jobs: list[_Job] = []
        self._last: dict[str, _Job] = {}  # per camera, the newest clip planned
        self._cond = threading.Condition()
        self._stopped = False
        self.written = 0
        self.failed = 0
        self.skipped = 0  # events without a clip: no buffer, or too many pending
        self._thread = threading.Thread(target=self._run, name="ingest-clips", daemon=True)
        self._thread.start()

    def window(self, event: Event) -> tuple[float, float] | None:
        """The widest window the registry's rules for this event ask; None when no rule
        names its type on this camera (it raises no alarm: a junction's every passing car
        was 100 clips, 0.4 GB, in 15 minutes of the demo)."""
        camera = self._cameras().get(event.camera_id)
        asked = [
            (r.clip_before_s, r.clip_after_s)
            for r in self._rules()
            if r.enabled
            and event.event_type in r.event_types
            and (camera is None or r.selects(camera))
        ]
        if not asked:
            return None
        return max(b for b, _ in asked), max(a for _, a in asked)

    def attach(self, event: Event) -> Event:
        """The event with its clip's reference added, the clip planned; unchanged when the
        camera has no clip buffer here or too many clips wait."""
        window = self.window(event)
        if (
            window is None
            or self._cut(event.camera_id, event.occurred_at, event.occurred_at) is None
        ):
            self.skipped += 1
            return event
        before, after = window
        t = event.occurred_at
        with self._cond:
            last = self._last.get(event.camera_id)
            # Inside the camera's last planned clip, with a little on both sides: share it.
            if (
                last is not None
                and last.start <= t - min(before, 2.0)
                and t + min(after, 3.0) <= last.end
            ):
                ref = last.ref
            elif len(self._jobs) >= MAX_PENDING:
                self.skipped += 1
                return event
            else:
                day = time.strftime("%Y%m%d", time.gmtime(t))
                name = _NAME_UNSAFE.sub("_", event.event_id)[:120]
                ref = f"clips/{event.camera_id}/{day}/{name}.mp4"
                job = _Job(t + after + self._settle_s, event.camera_id, t - before, t + after, ref)
                heapq.heappush(self._jobs, job)
                self._last[event.camera_id] = job
                self._cond.notify()
        clip = EvidenceRef(kind="clip", ref=ref, at=t)
        return event.model_copy(update={"evidence": [*event.evidence, clip]})

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._jobs or self._jobs[0].due > time.time()):
                    wait = None if not self._jobs else self._jobs[0].due - time.time()
                    self._cond.wait(wait)
                if self._stopped:
                    return
                job = heapq.heappop(self._jobs)
                if self._last.get(job.camera_id) is job:
                    del self._last[job.camera_id]
            try:
                self._write(job)
            except Exception:  # a bug must cost one clip, not every clip after it
                self.failed += 1
                log.exception("camera %s: clip %s failed", job.camera_id, job.ref)

    def _write(self, job: _Job) -> None:
        clip = self._cut(job.camera_id, job.start, job.end)
        if clip is None or not any(u.keyframe for u in clip.units):
            self.failed += 1
            log.warning("camera %s: no video held for clip %s", job.camera_id, job.ref)
            return
        path = self.root / job.ref
        tmp = path.with_name(f".{path.name}.part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            out = Fmp4Writer(tmp, clip.codec, clip.parameter_sets)
            try:
                for unit in clip.units:
                    out.write(unit)
            finally:
                info = out.close()
            # What the clip covers, beside it (never served: not a media suffix): its last
            # unit arrived by the window's end, so it begins its own duration before that.
            end = min(job.end, time.time())
            times = {
                "camera_id": job.camera_id,
                "start": end - info.duration_s,
                "end": end,
                "window": [job.start, job.end],
                "frames": info.frames,
                "codec": clip.codec,
            }
            path.with_suffix(".json").write_text(json.dumps(times) + "\n")
            os.replace(tmp, path)
        except (OSError, ValueError, av.FFmpegError) as exc:
            # A full or failing disk: the event stands, its clip is lost and said so.
            self.failed += 1
            log.error("camera %s: clip %s not written: %s", job.camera_id, job.ref, exc)
            with contextlib.suppress(OSError):  # the folder may be what failed
                tmp.unlink(missing_ok=True)
            return
        self.written += 1
