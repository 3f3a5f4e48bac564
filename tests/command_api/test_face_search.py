"""Face search: a photo finds the sightings of the same person (real photos, real models),
within the caller's scope, investigators only, audited with the photo's digest only."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import Engine

from analytics.faces import FaceAnalyzer
from analytics.store import store_sightings
from command_api.auth.roles import Role
from command_api.auth.seed import DEMO_USERS, DemoUser
from sharpeye.contracts.sightings import Sighting
from sharpeye.models.manifest import models_dir
from sharpeye.models.samples import pull_samples
from tests.command_api.harness import NOON, Harness, harness

pytestmark = [pytest.mark.integration]

# Tourism sees its scenic spots and the plaza, not the traffic junctions or the schools.
TOURISM_INVESTIGATOR = DemoUser("tourism-inv", "tourism-inv-pass", "tourism", (Role.INVESTIGATOR,))
# Where each photo's person is seen; the probe is obama.jpg (a third, different photo).
SEEN = [
    ("obama3.jpg", "junction-east", NOON + 300),  # outside tourism's scope
    ("obama2.jpg", "plaza-north", NOON + 60),
    ("biden.jpg", "plaza-south", NOON + 120),
    ("zidane.jpg", "scenic-lakeside", NOON + 180),
]


@pytest.fixture(scope="module")
def photos(face_data_dir: Path) -> dict[str, bytes]:
    return {name: path.read_bytes() for name, path in pull_samples(face_data_dir).items()}


@pytest.fixture(scope="module")
def embeddings(face_data_dir: Path, photos: dict[str, bytes]) -> dict[str, list[float]]:
    """Each photo's largest usable face, embedded with the real model (as ingest would)."""
    analyzer = FaceAnalyzer(face_data_dir, min_size=24)
    out = {}
    for name, *_ in SEEN:
        img = np.asarray(cv2.imdecode(np.frombuffer(photos[name], np.uint8), 1), np.uint8)
        faces = sorted(analyzer.usable_faces(img), key=lambda f: -(f.box[2] - f.box[0]))
        assert faces, name
        out[name] = [float(v) for v in analyzer.embed(img, faces[0])]
    return out


@pytest.fixture
async def api(tmp_path: Path, redis_url: str, face_data_dir: Path) -> AsyncIterator[Harness]:
    # The API finds its face models under its own data dir: lend it the provisioned ones.
    (tmp_path / "data").mkdir()
    models_dir(tmp_path / "data").symlink_to(models_dir(face_data_dir).resolve())
    users = [*DEMO_USERS, TOURISM_INVESTIGATOR]
    async with harness(tmp_path, redis_url, start_services=False, users=users) as h:
        yield h


def face_sighting(name: str, camera: str, at: float, embedding: list[float]) -> Sighting:
    return Sighting.model_validate(
        {
            "camera_id": camera,
            "track_id": int(at) % 10_000,
            "class_name": "person",
            "first_seen": at,
            "last_seen": at + 4,
            "score": 0.9,
            "box": {"x1": 0.4, "y1": 0.2, "x2": 0.6, "y2": 0.9},
            "face_embedding": embedding,
            "snapshot_ref": f"snapshots/{camera}/{name}",
        }
    )


def store(api: Harness, embeddings: dict[str, list[float]]) -> None:
    engine = api.runtime.sessions.kw["bind"]
    assert isinstance(engine, Engine)
    sightings = [face_sighting(n, cam, at, embeddings[n]) for n, cam, at in SEEN]
    # A faceless sighting in the range: never a hit, never compared.
    sightings.append(
        Sighting.model_validate(
            {
                "camera_id": "junction-west",
                "track_id": 1,
                "class_name": "car",
                "first_seen": NOON + 30,
                "last_seen": NOON + 40,
                "score": 0.8,
                "box": {"x1": 0.1, "y1": 0.1, "x2": 0.3, "y2": 0.3},
                "plate": "皖S12345",
            }
        )
    )
    store_sightings(engine, sightings)


async def search(
    api: Harness, headers: dict[str, str], photo: bytes, **form: object
) -> tuple[int, dict[str, object]]:
    data = {"start": str(NOON - 60), "end": str(NOON + 3600), "case": "HF-2026-0042"}
    data.update({k: str(v) for k, v in form.items()})
    r = await api.client.post(
        "/api/sightings/face",
        files={"photo": ("probe.jpg", photo, "image/jpeg")},
        data=data,
        headers=headers,
    )
    return r.status_code, r.json()


async def face_audits(api: Harness) -> list[dict[str, object]]:
    admin = await api.login("admin")
    body = (await api.client.get("/api/audit", headers=admin)).json()
    entries = body["entries"] if isinstance(body, dict) else body
    return [e for e in entries if e["action"] == "search.face"]


async def test_a_photo_finds_the_same_person_in_time_order(
    api: Harness, photos: dict[str, bytes], embeddings: dict[str, list[float]]
) -> None:
    store(api, embeddings)
    police = await api.login("police-wall")  # investigator; police sees every group
    status, body = await search(api, police, photos["obama.jpg"])
    assert status == 200, body
    hits = body["hits"]
    assert isinstance(hits, list)
    # Obama's two other photos, in time order; Biden and Zidane are not him.
    assert [h["sighting"]["camera_id"] for h in hits] == ["plaza-north", "junction-east"]
    assert all(0 < h["distance"] < 0.5 for h in hits)
    assert all("face_embedding" not in h["sighting"] for h in hits)
    assert body["complete"] is True and body["scanned"] == 4  # the car has no face
    # A stricter threshold drops the farther photo.
    nearest = min(hits, key=lambda h: h["distance"])
    status, strict = await search(
        api, police, photos["obama.jpg"], threshold=nearest["distance"] + 1e-3
    )
    assert status == 200 and len(strict["hits"]) == 1  # type: ignore[arg-type]
    # The audit log has the photo's digest and the counts, not the photo.
    audits = await face_audits(api)
    first = next(a for a in audits if a["detail"]["threshold"] == 0.5)  # type: ignore[index]
    digest = hashlib.sha256(photos["obama.jpg"]).hexdigest()
    assert first["target"] == digest and first["actor"] == "police-wall"
    assert first["detail"]["results"] == 2 and first["detail"]["withheld"] == 0  # type: ignore[index]
    text = json.dumps(audits)
    assert len(text) < 4000  # no image bytes (base64 or otherwise) in the records


async def test_scope_withholds_and_counts(
    api: Harness, photos: dict[str, bytes], embeddings: dict[str, list[float]]
) -> None:
    store(api, embeddings)
    tourism = await api.login("tourism-inv")
    status, body = await search(api, tourism, photos["obama.jpg"])
    assert status == 200, body
    hits = body["hits"]
    assert isinstance(hits, list)
    assert [h["sighting"]["camera_id"] for h in hits] == ["plaza-north"]
    # Faces on the junction's cameras were not theirs to count either.
    assert body["scanned"] == 3
    # Naming a camera outside the scope is refused and audited.
    status, _ = await search(api, tourism, photos["obama.jpg"], camera="junction-east")
    assert status == 403
    audits = await face_audits(api)
    done = [a for a in audits if a["outcome"] == "ok"]
    assert len(done) == 1 and done[0]["actor"] == "tourism-inv"
    assert done[0]["detail"]["withheld"] == 1  # type: ignore[index]
    assert done[0]["detail"]["results"] == 1  # type: ignore[index]
    assert any(a["outcome"] == "denied" for a in audits)


async def test_wall_operator_is_refused(api: Harness, photos: dict[str, bytes]) -> None:
    forestry = await api.login("forestry")
    status, _ = await search(api, forestry, photos["obama.jpg"])
    assert status == 403


async def test_a_photo_without_a_face_is_a_clear_422(api: Harness) -> None:
    police = await api.login("police-wall")
    # A plain frame: a grey gradient, a real JPEG with nothing in it.
    frame = np.tile(np.linspace(40, 200, 640, dtype=np.uint8), (480, 1))
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    assert ok
    status, body = await search(api, police, jpeg.tobytes())
    assert status == 422 and "no usable face in the photo" in str(body["detail"])
    status, body = await search(api, police, b"not an image at all")
    assert status == 422 and "not a photo" in str(body["detail"])
    # The scan is bounded: a face search spans a week at most.
    status, body = await search(api, police, jpeg.tobytes(), end=NOON + 8 * 86400)
    assert status == 422 and "7 days" in str(body["detail"])


async def test_a_photo_over_10_mb_is_a_413(api: Harness) -> None:
    police = await api.login("police-wall")
    r = await api.client.post(
        "/api/sightings/face",
        files={"photo": ("big.jpg", b"\xff" * (11 * 1024 * 1024), "image/jpeg")},
        data={"start": str(NOON), "end": str(NOON + 60), "case": "HF-1"},
        headers=police,
    )
    assert r.status_code == 413
