"""The recording benchmark's short variant: two 720p cameras recorded by our recorder and by
ffmpeg's segmenter for a few seconds, their clip buffers filled a little, the clips played
through a real API. Every figure of the record run is produced, every segment written starts
on a keyframe that decodes (checked inside the run). The figures themselves are the
benchmark's (benchmarks/recording.py); the bounds here tell "works" from "broken"."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.recording import run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(600)
def test_every_figure_is_measured(tmp_path: Path, footage: object) -> None:
    figures, rows = run(tmp_path, 4.0, 6.0, 5, {"720p": 2}, 2, 6.0)
    assert [f.figure for f in figures] == [
        "cameras recorded per core 720p25",
        "disk write vs stream bitrate",
        "rolling buffer memory per camera",
        "clip playback start p95",
    ]
    assert all(f.value > 0 and f.anchor_value > 0 for f in figures), figures
    r = rows["720p"]
    assert r["ours"]["failures"] == 0 and r["ours"]["dropped"] == 0
    assert r["disk_ours"]["files"] >= 2 and r["disk_ffmpeg"]["files"] >= 2
    assert r["disk_ours"]["ratio"] < 1.05  # fMP4 boxes on a few seconds of video
    assert r["coverage"] > 0.5  # what was received reached the disk (less the first GOP)
    assert r["buffers"]["accounted_mb"] > 0 and len(r["buffers"]["clips"]) == 2
    assert rows["playback"]["segments"] >= 1
