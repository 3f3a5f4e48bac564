"""The footage clips have the properties the fleet, ingest and WebRTC rely on."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import av
import pytest

from sharpeye.simulate import footage as ft
from tests.fixtures_fleet import DATA_DIR

FFMPEG_ERRORS = ("ffmpeg", "-v", "error", "-nostdin")


def ffprobe(path: Path, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", *args, str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def test_prepare_makes_every_clip_and_the_photos(footage: dict[str, Path]) -> None:
    assert set(footage) == set(ft.CLIPS)
    for path in footage.values():
        assert path.suffix == ".mkv" and path.stat().st_size > 500_000
    images = next(iter(footage.values())).parent / "images"
    assert sorted(p.name for p in images.iterdir()) == [
        "black_car.jpg",
        "messi5.jpg",
        "pexels_double_decker_bus.jpg",
        "scenetext01.jpg",
        "white_car.jpg",
    ]


def test_prepare_is_idempotent(
    footage: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    before = {name: p.stat().st_mtime_ns for name, p in footage.items()}
    again = ft.prepare(next(iter(footage.values())).parent.parent)
    assert {n: p.stat().st_mtime_ns for n, p in again.items()} == before
    assert "== encoding" not in capsys.readouterr().out


@pytest.mark.parametrize("name", list(ft.CLIPS))
def test_clip_stream_properties(footage: dict[str, Path], name: str) -> None:
    spec = ft.CLIPS[name]
    info = ffprobe(footage[name], "-show_streams", "-select_streams", "v")
    (stream,) = info["streams"]
    assert stream["codec_name"] == "h264"
    assert stream["profile"] == "Constrained Baseline"  # browsers' WebRTC decodes it
    assert stream["pix_fmt"] == "yuv420p"
    assert (stream["width"], stream["height"]) == (spec.width, spec.height)
    assert stream["avg_frame_rate"] == "25/1"
    assert stream["has_b_frames"] == 0
    fmt = ffprobe(footage[name], "-show_format")["format"]
    assert fmt["nb_streams"] == 1  # video only (-an)


@pytest.mark.parametrize("name", list(ft.CLIPS))
def test_fixed_gop_whole_number_of_gops(footage: dict[str, Path], name: str) -> None:
    """Keyframes exactly every 50th frame and only there; no reordering (pts == dts)."""
    with av.open(str(footage[name])) as c:
        packets = [(p.pts, p.dts, p.is_keyframe) for p in c.demux(video=0) if p.pts is not None]
    assert len(packets) == ft.CLIPS[name].frames
    assert len(packets) % ft.GOP == 0
    keys = [i for i, (_, _, key) in enumerate(packets) if key]
    assert keys == list(range(0, len(packets), ft.GOP))
    assert all(pts == dts for pts, dts, _ in packets)
    pts = [p for p, _, _ in packets]
    assert pts == sorted(pts) and len(set(pts)) == len(pts)


def _nal_types(avcc: bytes) -> list[int]:
    types, i = [], 0
    while i + 4 <= len(avcc):
        size = int.from_bytes(avcc[i : i + 4], "big")
        types.append(avcc[i + 4] & 0x1F)
        i += 4 + size
    return types


def test_sps_pps_in_band_before_every_keyframe(footage: dict[str, Path]) -> None:
    """repeat-headers=1: a reader joining at any keyframe can decode without the container."""
    with av.open(str(footage["vtest-720p"])) as c:
        keyframes = [bytes(p) for p in c.demux(video=0) if p.is_keyframe][:5]
    for pkt in keyframes:
        types = _nal_types(pkt)
        assert 7 in types and 8 in types and 5 in types, types


def test_corrupt_clip_decodes_with_errors(footage: dict[str, Path]) -> None:
    def errors(path: Path) -> list[str]:
        proc = subprocess.run(
            [*FFMPEG_ERRORS, "-i", str(path), "-frames:v", "500", "-f", "null", "-"],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stderr.splitlines()

    assert errors(footage["vtest-720p"]) == []
    assert len(errors(footage["corrupt-720p"])) >= 5


def test_corrupt_annexb_is_deterministic_and_keeps_headers() -> None:
    sps, pps = b"\x67\x42\xc0\x1f" + bytes(range(20)), b"\x68\xce\x3c\x80"
    slices = [bytes([0x65 if i % 50 == 0 else 0x41]) + bytes([7] * 400) for i in range(300)]
    stream = b"".join(b"\x00\x00\x00\x01" + n for n in [sps, pps, *slices])
    bad = ft.corrupt_annexb(stream)
    assert bad == ft.corrupt_annexb(stream)
    assert bad != stream
    nals = ft._split_nals(bad)
    assert nals[:2] == [sps, pps]
    assert len(nals) == len(slices) + 2  # no NAL lost or invented
    assert nals[2 : 2 + ft.GOP] == slices[: ft.GOP]  # the first GOP stays clean


def test_apt_get_failure_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi").exists():
        pytest.skip("opencv-doc is installed here: prepare never downloads")
    fake = tmp_path / "bin" / "apt-get"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'E: Unable to locate package opencv-doc' >&2\nexit 100\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(ft.FootageError, match=r"run `apt-get update`"):
        ft.prepare(tmp_path / "data")
    assert "== fetching opencv-doc" in capsys.readouterr().out


def test_sources_extract_from_the_deb_into_an_empty_data_dir(
    footage: dict[str, Path], tmp_path: Path
) -> None:
    """The newcomer's path: only the .deb, nothing extracted yet (no download here)."""
    import shutil

    from sharpeye.simulate.footage import IMAGES, SOURCE_VIDEOS, _fetch_sources

    debs = sorted((DATA_DIR / "cache").glob("opencv-doc_*.deb"))
    if not debs:
        pytest.skip("opencv-doc is installed system-wide: no .deb was fetched")
    (tmp_path / "cache").mkdir()
    shutil.copy(debs[-1], tmp_path / "cache")
    root = _fetch_sources(tmp_path)
    assert all((root / p).is_file() for p in (*SOURCE_VIDEOS.values(), *IMAGES))
