"""A camera's recorded timeline (GET /api/cameras/{id}/recordings): segments and gaps in
time order to whoever may see the camera, another department's refused and audited, bad
ranges a 422; segments served by /api/evidence answer byte ranges (what a <video> seeks
with); a segment whose file is missing, truncated or overwritten is listed `damaged` with
the reason and logged once. The access matrix (access_table.py) has who may call it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.command_api.harness import Harness, harness
from tests.recording_segments import fragmented_segment, index_gap, index_segment

pytestmark = pytest.mark.integration

CAMERA = "forest-lookout-1"  # forestry's
T0 = 1_799_812_800.0
REFS = [f"recordings/{CAMERA}/20270113/20270113T040000.000Z.mp4"]
REFS.append(f"recordings/{CAMERA}/20270113/20270113T040002.000Z.mp4")
REFS.append(f"recordings/{CAMERA}/20270113/20270113T040010.000Z.mp4")


@pytest.fixture
async def api(tmp_path: Path, redis_url: str, footage: dict[str, Path]) -> AsyncIterator[Harness]:
    async with harness(tmp_path, redis_url, start_services=False) as h:
        store = tmp_path / "data" / "evidence"
        sessions = h.runtime.sessions
        # Inserted out of order: the answer is in time order all the same.
        spans = [(T0 + 10, T0 + 12), (T0, T0 + 2), (T0 + 2, T0 + 4)]
        for ref, (start, end) in zip([REFS[2], REFS[0], REFS[1]], spans, strict=True):
            frames = fragmented_segment(footage["vtest-360p"], store / ref, start - T0, 2.0)
            index_segment(sessions, CAMERA, ref, start, end, store / ref, frames)
        index_gap(sessions, CAMERA, T0 + 4, T0 + 10, "reconnect")
        # Another camera's gap never shows in this one's timeline.
        index_gap(sessions, "scenic-lakeside", T0 + 4, T0 + 10, "reconnect")
        yield h


async def _audit(api: Harness) -> list[dict[str, Any]]:
    r = await api.client.get(
        "/api/audit", params={"limit": "1000"}, headers=await api.login("admin")
    )
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()
    return rows


async def test_the_cameras_timeline_in_time_order(api: Harness) -> None:
    headers = await api.login("forestry")
    r = await api.client.get(
        f"/api/cameras/{CAMERA}/recordings",
        params={"start": T0 - 60, "end": T0 + 60},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [s["ref"] for s in body["segments"]] == REFS
    first = body["segments"][0]
    assert (first["start"], first["end"]) == (T0, T0 + 2)
    assert first["codec"] == "h264" and (first["width"], first["height"]) == (640, 360)
    assert first["frames"] == 50 and first["bytes"] > 10_000
    assert all(s["damaged"] is None for s in body["segments"])  # each file as recorded
    assert body["gaps"] == [{"start": T0 + 4, "end": T0 + 10, "reason": "reconnect"}]
    assert body["truncated"] is False
    # A range inside the gap's neighbourhood: only what overlaps it.
    r = await api.client.get(
        f"/api/cameras/{CAMERA}/recordings",
        params={"start": T0 + 3, "end": T0 + 9},
        headers=headers,
    )
    assert [s["ref"] for s in r.json()["segments"]] == [REFS[1]]
    assert len(r.json()["gaps"]) == 1
    # `limit` cuts the answer and says so.
    r = await api.client.get(
        f"/api/cameras/{CAMERA}/recordings",
        params={"start": T0 - 60, "end": T0 + 60, "limit": 2},
        headers=headers,
    )
    assert [s["ref"] for s in r.json()["segments"]] == REFS[:2] and r.json()["truncated"]

    async def listed() -> bool:
        rows = await _audit(api)
        return any(
            a["action"] == "recording.list" and a["actor"] == "forestry" and a["outcome"] == "ok"
            for a in rows
        )

    for _ in range(400):  # reads are audited in batches, off the request path
        if await listed():
            break
        await asyncio.sleep(0.05)
    assert await listed()


async def test_another_departments_camera_is_refused_and_audited(api: Harness) -> None:
    r = await api.client.get(
        f"/api/cameras/{CAMERA}/recordings",
        params={"start": T0 - 60, "end": T0 + 60},
        headers=await api.login("tourism"),
    )
    assert r.status_code == 403
    refused = [
        a
        for a in await _audit(api)
        if a["actor"] == "tourism" and a["target"] == f"camera:{CAMERA}"
    ]
    assert [(a["action"], a["outcome"]) for a in refused] == [("recording.list", "denied")]
    unknown = await api.client.get(
        "/api/cameras/no-such-camera/recordings",
        params={"start": T0, "end": T0 + 1},
        headers=await api.login("admin"),
    )
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {"start": T0, "end": T0},  # empty
        {"start": T0 + 10, "end": T0},  # reversed
        {"start": T0, "end": T0 + 8 * 24 * 3600},  # longer than 7 days
        {"start": "nan", "end": T0},
        {"start": T0, "end": "inf"},
        {"start": -5, "end": T0},
        {"start": T0},  # no end
        {"start": T0, "end": T0 + 60, "limit": 0},
        {"start": T0, "end": T0 + 60, "limit": 100_000},
    ],
)
async def test_bad_ranges_are_422(api: Harness, params: dict[str, Any]) -> None:
    r = await api.client.get(
        f"/api/cameras/{CAMERA}/recordings", params=params, headers=await api.login("forestry")
    )
    assert r.status_code == 422, r.text


async def test_a_segment_answers_byte_ranges(api: Harness, tmp_path: Path) -> None:
    whole = (tmp_path / "data" / "evidence" / REFS[0]).read_bytes()
    headers = await api.login("forestry")
    url = f"/api/evidence/{REFS[0]}"
    full = await api.client.get(url, headers=headers)
    assert full.status_code == 200 and full.content == whole
    assert full.headers["accept-ranges"] == "bytes"
    part = await api.client.get(url, headers={**headers, "Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.content == whole[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(whole)}"
    assert part.headers["content-type"] == "video/mp4"
    tail = await api.client.get(url, headers={**headers, "Range": "bytes=-500"})
    assert tail.status_code == 206 and tail.content == whole[-500:]
    beyond = await api.client.get(url, headers={**headers, "Range": f"bytes={len(whole) + 10}-"})
    assert beyond.status_code == 416
    # A range of another department's segment is refused like the whole file.
    refused = await api.client.get(
        url, headers={**await api.login("tourism"), "Range": "bytes=0-99"}
    )
    assert refused.status_code == 403


async def test_a_damaged_segment_is_listed_with_its_reason_and_logged_once(
    api: Harness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = tmp_path / "data" / "evidence"
    whole = (store / REFS[0]).read_bytes()
    (store / REFS[0]).write_bytes(whole[: len(whole) // 2])  # truncated
    (store / REFS[1]).write_bytes(b"\0" * 8 + (store / REFS[1]).read_bytes()[8:])  # header gone
    (store / REFS[2]).unlink()  # deleted behind the index's back
    headers = await api.login("forestry")
    params = {"start": T0 - 60, "end": T0 + 60}
    with caplog.at_level(logging.WARNING, logger="command_api.recordings"):
        for _ in range(3):  # a wall polling its timeline
            r = await api.client.get(
                f"/api/cameras/{CAMERA}/recordings", params=params, headers=headers
            )
            assert r.status_code == 200, r.text
    damaged = {s["ref"]: s["damaged"] for s in r.json()["segments"]}
    assert list(damaged) == REFS  # still listed, in order: the wall shows them as gaps
    assert damaged[REFS[0]] == f"size on disk {len(whole) // 2} bytes, {len(whole)} when recorded"
    assert damaged[REFS[1]] == "not an MP4 segment (no ftyp box at the start)"
    assert damaged[REFS[2]] == "file missing"
    warned = [m for m in caplog.messages if "is damaged" in m]
    assert len(warned) == 3, warned  # once each, not once per listing
    assert all(m.startswith(f"camera {CAMERA}: recorded segment recordings/") for m in warned)
    # Whole again (restored from a backup): listed as whole.
    (store / REFS[0]).write_bytes(whole)
    r = await api.client.get(f"/api/cameras/{CAMERA}/recordings", params=params, headers=headers)
    assert r.json()["segments"][0]["damaged"] is None
