"""Is a recorded segment on disk still the one the index describes? A cheap check made as
the timeline is listed, so the wall skips a damaged segment (shown as a gap with the reason)
instead of stalling on it.

Cheap on purpose: a stat and the first 8 bytes. The file must exist, have the size the
recorder indexed when it closed it (a segment is written aside and renamed whole, so any
other size is a truncation or an overwrite), and start with the box every fragmented MP4
starts with (`ftyp`, or `styp` for a bare fragment). Damage inside a file of the right size
is left to the player (the wall skips a segment the browser cannot play).

Each damaged segment is logged once per process, naming camera and segment, not once per
listing: a wall polling a timeline must not flood the log with the same line.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path

log = logging.getLogger("command_api.recordings")

_BOXES = (b"ftyp", b"styp")
# Damaged segments remembered as already logged; past this many the oldest may be logged
# again (a bound, not a promise of silence).
_REMEMBERED = 10_000


def segment_damage(root: Path, ref: str, indexed_bytes: int) -> str | None:
    """Why the segment `ref` (under the evidence store `root`) cannot be played as indexed,
    or None when it looks whole."""
    path = root / ref
    try:
        size = path.stat().st_size
        if size != indexed_bytes:
            return f"size on disk {size} bytes, {indexed_bytes} when recorded"
        with path.open("rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        return "file missing"
    except OSError as exc:
        return f"unreadable: {exc.strerror or type(exc).__name__}"
    if len(head) < 8 or head[4:8] not in _BOXES:
        return "not an MP4 segment (no ftyp box at the start)"
    return None


class DamageLog:
    """Logs each (segment, reason) once: a warning naming the camera and the segment."""

    def __init__(self, remembered: int = _REMEMBERED) -> None:
        self._said: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._remembered = remembered
        self._lock = threading.Lock()  # listings run in the threadpool

    def report(self, camera_id: str, ref: str, reason: str) -> None:
        key = (ref, reason)
        with self._lock:
            if key in self._said:
                self._said.move_to_end(key)
                return
            self._said[key] = None
            if len(self._said) > self._remembered:
                self._said.popitem(last=False)
        log.warning(
            "camera %s: recorded segment %s is damaged (%s); playback skips it",
            camera_id,
            ref,
            reason,
        )


def damaged_segments(
    root: Path, camera_id: str, segments: list[tuple[str, int]], said: DamageLog
) -> dict[str, str]:
    """{ref: reason} of the damaged ones among (ref, indexed bytes); each logged once."""
    found: dict[str, str] = {}
    for ref, indexed in segments:
        reason = segment_damage(root, ref, indexed)
        if reason is not None:
            found[ref] = reason
            said.report(camera_id, ref, reason)
    return found
