"""A playing GB/T 28181 channel as its consumers take it: from the first keyframe on, the
call's lease kept all along.

Every service that plays a channel (the ingest worker's reader, the relay's upstream) needs
the same two things `GbSource` cannot know: when the video becomes usable, and that the
call must be kept. A device starts sending wherever its encoder is, and the codec and the
parameter sets are only known from the stream itself (the PSM names the codec; devices send
SPS/PPS in-band before every IDR), so a consumer attaches at the first keyframe and takes
its parameter sets from it (`parameter_sets`). The service hangs up a call whose lease
lapses, so the lease is refreshed on every step, video or not (`GbSignalling.keep` limits
how often that reaches Redis).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from camera.gb28181.signalling import GbSignalling
from camera.gb28181.source import GbSource, GbStreamError
from camera.rtsp.depacketize import AccessUnit


def from_first_keyframe(
    source: GbSource,
    signalling: GbSignalling,
    stopping: Callable[[], bool],
    keyframe_wait_s: float,
) -> Iterator[AccessUnit | None]:
    """`source.units(stopping)` of an opened source, starting at its first keyframe of a
    known codec (`source.codec` is set when the first unit comes). Units before it are
    yielded as None, like a slice without data, so the caller's timers still run. Raises
    GbStreamError when no keyframe came within `keyframe_wait_s` (`units` itself raises
    when no video comes at all: a device whose stream cannot be started is as good as
    none), and what `units` raises."""
    handle = source.handle
    assert handle is not None, "open() first"
    started = time.monotonic()
    attached = False
    for au in source.units(stopping):
        signalling.keep(handle)
        if not attached:
            if au is not None and au.keyframe and source.codec is not None:
                attached = True
            else:
                waited = time.monotonic() - started
                if waited > keyframe_wait_s:
                    raise GbStreamError(f"{source.where}: video but no keyframe in {waited:.0f} s")
                au = None
        yield au


def parameter_sets(data: bytes, hevc: bool) -> list[bytes]:
    """The SPS/PPS (H.264) or VPS/SPS/PPS (H.265) NAL units of an Annex B access unit."""
    wanted = (32, 33, 34) if hevc else (7, 8)
    out: list[bytes] = []
    for part in data.split(b"\x00\x00\x01")[1:]:
        nal = part.rstrip(b"\x00")  # a NAL never ends in zero: they start the next code
        if nal and ((nal[0] >> 1) & 0x3F if hevc else nal[0] & 0x1F) in wanted:
            out.append(nal)
    return out
