"""Where a camera's access units go, for either reader: every sink the session has (the
alarm clip buffer, the recorder) gets each unit, the analytics decoder only what its
sampling mode asks for, and picture diagnosis may ask for the next keyframe.

One object for both readers (the native client's `Assembler` emits into it, the FFmpeg
reader calls it per unit), so a new sink is one more entry in `Session.sinks`, not another
copy of the delivery code in each reader.

Diagnosis on a camera that analytics does not sample used to swap a one-shot keyframe
assembler into the stream and set it back to None afterwards: right for a camera that is
only demuxed, wrong for one whose units a sink takes (the swap would end the recording).
A tee takes the request instead (`next_keyframe`) and keeps every sink fed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

from camera.rtsp.depacketize import AccessUnit


class UnitSink(Protocol):
    """Takes every access unit of a camera (on the reader's thread: must not block)."""

    def add(self, au: AccessUnit, at: float) -> None:
        """One unit as it arrived (`at`: unix time)."""
        ...

    def restart(self, codec: str, parameter_sets: list[bytes]) -> None:
        """A new connection: units from here on are of another stream."""
        ...


class UnitTarget(Protocol):
    def submit(self, au: AccessUnit) -> None: ...


class Tee:
    def __init__(
        self,
        sinks: Sequence[UnitSink],
        decoder: UnitTarget | None = None,
        keyframes_only: bool = False,
    ) -> None:
        self.sinks = tuple(sinks)
        self.decoder = decoder
        self.keyframes_only = keyframes_only  # the decoder's mode; sinks take every unit
        self._next_keyframe: Callable[[AccessUnit], None] | None = None

    def restart(self, codec: str, parameter_sets: list[bytes]) -> None:
        for sink in self.sinks:
            sink.restart(codec, parameter_sets)

    def next_keyframe(self, callback: Callable[[AccessUnit], None]) -> None:
        """Call `callback` (on the reader's thread) with the next keyframe, once."""
        self._next_keyframe = callback

    def __call__(self, au: AccessUnit) -> None:
        if self.sinks:
            at = time.time()
            for sink in self.sinks:
                sink.add(au, at)
        decoder = self.decoder
        if decoder is not None and (au.keyframe or not self.keyframes_only):
            decoder.submit(au)
        if au.keyframe and self._next_keyframe is not None:
            callback, self._next_keyframe = self._next_keyframe, None
            callback(au)
