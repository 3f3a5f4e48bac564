"""A camera that changes resolution mid-stream (issue 13, bad input): the recorder starts a
new segment at the keyframe that carries the new parameter sets, the two segments join
without a gap in the index, and each plays at its own size.

The units are real footage (the 360p and then the 720p encoding of the same clip) demuxed
with PyAV and turned into the Annex-B access units a camera's RTP would give, fed into the
recorder's sink on one continuous RTP clock: what ingest's reader hands it when an encoder
is reconfigured on the fly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import av.bitstream
import pytest

from camera.rtsp.depacketize import AccessUnit
from camera.spec import RecordPlan
from ingest.recorder import Recorder
from ingest.recording_index import RecordingIndex
from sharpeye.store.models.recordings import RecordingRow
from tests.ingest.test_recording import FRAME_S, _decode, _store

pytestmark = pytest.mark.integration

FOOTAGE = Path(__file__).resolve().parents[2] / "var" / "footage"
TICKS = 3600  # 25 fps on the 90 kHz clock


def _units(path: Path, frames: int) -> Iterator[AccessUnit]:
    """The first `frames` pictures of a file as Annex-B units (parameter sets on keyframes)."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        bsf = av.bitstream.BitStreamFilterContext("h264_mp4toannexb", stream)
        n = 0
        for packet in c.demux(stream):
            for out in bsf.filter(packet):
                yield AccessUnit(bytes(out), bool(out.is_keyframe), 0)
                n += 1
                if n == frames:
                    return


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[tuple[Recorder, RecordingIndex, Path]]:
    eng = _store(tmp_path / "index.db")
    index = RecordingIndex(lambda: eng, "test")
    root = tmp_path / "evidence"
    rec = Recorder(root, index, retention_every_s=3600)
    rec.start()
    yield rec, index, root
    rec.stop()
    eng.dispose()


def test_a_new_resolution_starts_a_new_segment_that_joins_and_plays(
    recorder: tuple[Recorder, RecordingIndex, Path], footage: Any
) -> None:
    rec, index, root = recorder
    small, large = FOOTAGE / "vtest-360p.mkv", FOOTAGE / "vtest-720p.mkv"
    if not (small.exists() and large.exists()):
        pytest.skip("no footage")
    sink = rec.sink("resized", RecordPlan(segment_s=60.0, retain_days=1.0))
    sink.restart("h264", [])  # parameter sets in-band, as after a reconnect
    units = [*_units(small, 75), *_units(large, 75)]  # 3 s each: one GOP of 50 and more
    t0 = time.time() - len(units) * FRAME_S  # arrived in real time, just now
    for i, au in enumerate(units):
        sink.add(
            AccessUnit(au.data, au.keyframe, (1000 + i * TICKS) & 0xFFFFFFFF), t0 + i * FRAME_S
        )
    sink.close()  # the writer closes the open segment and indexes it
    deadline = time.monotonic() + 30  # hang guard only
    rows: list[RecordingRow] = []
    while time.monotonic() < deadline:
        index.flush()
        rows = [r for r in index.segments("resized", 0.0, 2e9) if r.kind == "segment"]
        if len(rows) >= 2:
            break
        time.sleep(0.1)
    assert [(r.width, r.height) for r in rows] == [(640, 360), (1280, 720)]
    gaps = [r for r in index.segments("resized", 0.0, 2e9) if r.kind == "gap"]
    assert gaps == []  # a change of size is no gap: the stream went on
    assert abs(rows[1].start_at - rows[0].end_at) <= FRAME_S
    for row in rows:
        assert row.ref is not None
        frames, _ = _decode(root / row.ref)  # starts on a keyframe that decodes
        assert frames == row.frames
        with av.open(str(root / row.ref)) as c:
            first = next(c.decode(video=0))
            assert (first.width, first.height) == (row.width, row.height)
    # Every picture of the second encoding from its first keyframe, and all of the first.
    assert rows[0].frames == 75 and rows[1].frames >= 50
