"""Evidence files by reference: served to whoever may see their camera, as what they are,
private to the caller; nothing outside the evidence store can be named. Who may open what,
and the audit of each view, is in the access matrix (access_table.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.command_api.harness import Harness, harness

pytestmark = pytest.mark.integration

BASE = "/api/evidence"
JPEG = b"\xff\xd8\xff\xe0 a snapshot \xff\xd9"
SEGMENT = "20261207T101500.040Z.mp4"


@pytest.fixture
async def api(tmp_path: Path, redis_url: str) -> AsyncIterator[Harness]:
    async with harness(tmp_path, redis_url, start_services=False) as h:
        store = tmp_path / "data" / "evidence"
        (store / "events" / "forest-lookout-1" / "20261207").mkdir(parents=True)
        (store / "events" / "forest-lookout-1" / "20261207" / "fire-1.jpg").write_bytes(JPEG)
        (store / "clips" / "forest-lookout-1" / "20261207").mkdir(parents=True)
        (store / "clips" / "forest-lookout-1" / "20261207" / "fire-1.mp4").write_bytes(b"mp4")
        segments = store / "recordings" / "forest-lookout-1" / "20261207"
        segments.mkdir(parents=True)
        (segments / SEGMENT).write_bytes(b"segment")
        (segments / f".{SEGMENT}.part").write_bytes(b"being written")
        yield h


async def test_a_snapshot_is_served_as_a_private_jpeg(api: Harness) -> None:
    headers = await api.login("forestry")
    r = await api.client.get(
        "/api/evidence/events/forest-lookout-1/20261207/fire-1.jpg", headers=headers
    )
    assert r.status_code == 200 and r.content == JPEG
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["cache-control"].startswith("private")
    assert r.headers["x-content-type-options"] == "nosniff"
    clip = await api.client.get(
        "/api/evidence/clips/forest-lookout-1/20261207/fire-1.mp4", headers=headers
    )
    assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"


async def test_another_departments_evidence_is_refused(api: Harness) -> None:
    r = await api.client.get(
        "/api/evidence/events/forest-lookout-1/20261207/fire-1.jpg",
        headers=await api.login("tourism"),
    )
    assert r.status_code == 403


async def test_a_recorded_segment_follows_its_camera(api: Harness) -> None:
    url = f"/api/evidence/recordings/forest-lookout-1/20261207/{SEGMENT}"
    r = await api.client.get(url, headers=await api.login("forestry"))
    assert r.status_code == 200 and r.content == b"segment"
    assert r.headers["content-type"] == "video/mp4"
    refused = await api.client.get(url, headers=await api.login("tourism"))
    assert refused.status_code == 403
    # The segment still being written (aside, renamed when closed) is never served.
    part = f"/api/evidence/recordings/forest-lookout-1/20261207/.{SEGMENT}.part"
    assert (await api.client.get(part, headers=await api.login("admin"))).status_code == 404


@pytest.mark.parametrize(
    "ref",
    [
        "events/forest-lookout-1/20261207/missing.jpg",  # no such file
        "events/forest-lookout-1/20261207/../../../../auth_secret",  # out of the store
        "events/forest-lookout-1/..%2F..%2F..%2Fauth_secret.jpg",
        "events/forest-lookout-1/20261207/.hidden.jpg",
        "audit/forest-lookout-1/20261207/x.jpg",  # not an evidence kind
        "events/forest-lookout-1/20261207/fire-1.txt",  # not an evidence type
        "events/forest-lookout-1/fire-1.jpg",  # not a reference's shape
        "events/no-such-camera/20261207/fire-1.jpg",
    ],
)
async def test_what_is_not_a_reference_is_not_found(api: Harness, ref: str) -> None:
    r = await api.client.get(f"/api/evidence/{ref}", headers=await api.login("admin"))
    assert r.status_code == 404, r.text


@pytest.mark.parametrize(
    "ref",
    ["events/cam/20261207/..", "events/cam/../x.jpg", "events/../../x/y.jpg", "/events/a/b/c.jpg"],
)
def test_dot_segments_never_name_a_file(tmp_path: Path, ref: str) -> None:
    # Checked without HTTP in between (clients may resolve dot segments themselves).
    from fastapi import HTTPException

    from command_api.routers.evidence import evidence_path

    with pytest.raises(HTTPException) as err:
        evidence_path(tmp_path, ref)
    assert err.value.status_code == 404
