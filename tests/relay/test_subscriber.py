"""A viewer's bounded queue: priming, skipping to keyframes, overflow, close."""

from __future__ import annotations

import asyncio

import pytest

from relay.counters import RelayCounters
from relay.gop import EncodedFrame, GopCache, nal_types, squeeze, with_parameter_sets
from relay.subscriber import Subscriber, SubscriberClosedError


def frame(pts: int, key: bool = False) -> EncodedFrame:
    return EncodedFrame(b"\x00\x00\x00\x01\x41", key, pts, 0.0, pts)


def test_waits_for_a_keyframe_before_queueing() -> None:
    sub = Subscriber(capacity=10)
    sub.offer(frame(1))
    assert len(sub) == 0
    sub.offer(frame(2, key=True))
    sub.offer(frame(3))
    assert len(sub) == 2


def test_a_slow_viewer_stays_bounded_and_resumes_at_a_keyframe() -> None:
    sub = Subscriber(capacity=10)
    sub.offer(frame(0, key=True))
    for pts in range(1, 100):  # nobody reads: 99 more frames
        sub.offer(frame(pts, key=pts % 50 == 0))
    assert len(sub) <= 10
    assert sub.overflows >= 1 and sub.dropped > 0
    # It skips to the next keyframe: what it gets next is decodable.
    sub.offer(frame(100, key=True))
    sub.offer(frame(101))
    assert len(sub) >= 1
    assert sub.get_nowait().keyframe


async def test_get_waits_for_frames_and_ends_on_close() -> None:
    sub = Subscriber(capacity=10)
    waiter = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    sub.offer(frame(5, key=True))
    assert (await waiter).pts == 5
    sub.close()
    with pytest.raises(SubscriberClosedError):
        await sub.get()


def test_primed_queue_holds_the_cached_gop_even_if_larger_than_capacity() -> None:
    primed = [frame(0, key=True), *[frame(i) for i in range(1, 60)]]
    sub = Subscriber(capacity=10, primed=primed)
    assert len(sub) == 60 and sub.capacity > 60


def test_gop_cache_keeps_frames_since_the_last_keyframe() -> None:
    gop = GopCache(max_frames=5)
    gop.add(frame(0))  # before any keyframe: nothing to start from
    assert len(gop) == 0
    gop.add(frame(1, key=True))
    gop.add(frame(2))
    assert [f.pts for f in gop.snapshot()] == [1, 2]
    gop.add(frame(3, key=True))
    assert [f.pts for f in gop.snapshot()] == [3]
    for pts in range(4, 12):
        gop.add(frame(pts))
    assert len(gop) == 0  # a GOP longer than the cache is not cached


def test_squeeze_ends_at_the_newest_pts_increasing() -> None:
    frames = [frame(0, key=True), frame(3600), frame(7200)]
    out = squeeze(frames, step=90)
    assert [f.pts for f in out] == [7020, 7110, 7200]
    assert out[0].keyframe and out[0].data == frames[0].data


def test_parameter_sets_are_prepended_only_when_missing() -> None:
    sps, pps = b"\x67\x42\xe0\x1f", b"\x68\xce\x3c\x80"
    idr = b"\x00\x00\x00\x01\x65\x88"
    fixed = with_parameter_sets(idr, [sps, pps])
    assert nal_types(fixed) == {7, 8, 5}
    assert with_parameter_sets(fixed, [sps, pps]) == fixed


def test_gop_cache_is_bounded_in_bytes_too() -> None:
    gop = GopCache(max_frames=100, max_bytes=3 * len(frame(0).data))
    gop.add(frame(1, key=True))
    gop.add(frame(2))
    gop.add(frame(3))
    assert len(gop) == 3 and gop.bytes == 3 * len(frame(0).data)
    gop.add(frame(4))  # one byte over: dropped, a joiner waits for the next keyframe
    assert len(gop) == 0 and gop.bytes == 0
    gop.add(frame(5))
    assert len(gop) == 0


def test_drops_are_counted_for_the_relay_and_close_frees_the_queue() -> None:
    counters = RelayCounters()
    sub = Subscriber(capacity=10, counters=counters)
    for pts in range(25):  # nobody reads: overflows at 10, then waits for a keyframe
        sub.offer(frame(pts, key=pts == 0))
    # The ten queued and the one that overflowed (later ones wait for a keyframe, as ever).
    assert counters.dropped_overflow == sub.dropped == 11
    sub.offer(frame(25, key=True))
    sub.restart()  # the camera reconnected
    assert counters.dropped_reconnect == 1
    sub.offer(frame(26, key=True))
    sub.close()
    assert len(sub) == 0  # nothing of a closed viewer's stays alive
