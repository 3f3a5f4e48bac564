"""The Search tab in a real browser: a plate's sightings at three cameras listed in time
order and drawn as a trajectory on the offline map; clicking one puts it on the wall. A
wall operator does not get the tab."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from analytics.faces import FaceAnalyzer
from analytics.store import store_sightings
from sharpeye.contracts.sightings import Sighting
from sharpeye.models.manifest import models_dir
from sharpeye.models.provision import pull
from sharpeye.models.samples import pull_samples
from sharpeye.settings import Settings, get_settings
from sharpeye.store.db import create_engine_for
from tests.wall_ui.conftest import ARTIFACTS, PASSWORD, USER, open_wall, serve_in_thread

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OPERATOR, OPERATOR_PASSWORD = "wall-op", "wall-op-pass-1"
# Cameras spread over the map so the trajectory's stops are apart; no stream is played.
REGISTRY = "\n".join(
    [
        "version: 1",
        "district: {id: t, name: Search Test District}",
        "departments:",
        "  - {id: police, name: Police, kind: police}",
        "cameras:",
        *[
            f"  - {{id: cam{i}, name: Camera {i}, department: police, "
            f"location: {{lat: {31.80 + (i % 3) * 0.01:.2f}, lon: {117.20 + i * 0.01:.2f}}}, "
            f"streams: {{main: 'rtsp://127.0.0.1:9/c{i}'}}}}"
            for i in range(1, 7)
        ],
    ]
)
# Stored out of order: the list and the trajectory must come in time order.
SEEN = [("cam5", -600), ("cam2", -3000), ("cam4", -1800)]
TRAJECTORY = ["cam2", "cam4", "cam5"]
SNAPSHOT = "snapshots/cam2/20261207/track-0.jpg"


@pytest.fixture
def search_api(redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from command_api.app import create_app

    registry = tmp_path / "camera_registry.yaml"
    registry.write_text(REGISTRY + "\n")
    # The API's face models: the provisioned ones (offline once `make models` ran).
    provisioned = get_settings().data_dir
    pull(provisioned)
    models_dir(tmp_path).symlink_to(models_dir(provisioned).resolve())
    monkeypatch.setenv("SHARPEYE_BOOTSTRAP_ADMIN", f"{USER}:{PASSWORD}")
    settings = Settings.model_validate(
        {"SHARPEYE_REGISTRY": registry, "SHARPEYE_DATA_DIR": tmp_path, "REDIS_URL": redis_url}
    )
    url, stop = serve_in_thread(create_app(settings))
    try:
        # The API migrated the store at startup; write sightings as the analytics would.
        engine = create_engine_for(settings)
        now = time.time()
        store_sightings(engine, [plated(cam, now + dt, n) for n, (cam, dt) in enumerate(SEEN)])
        white = plated("cam3", now - 1200, 11).model_copy(
            update={"plate": None, "attributes": {"color": "white"}}
        )
        store_sightings(engine, [white])  # a white car whose plate was never read
        misread = plated("cam1", now - 3600, 9).model_copy(update={"plate": "皖SI2345"})
        store_sightings(engine, [misread])  # the same car an hour before, 1 read as I
        # The earliest sighting has a snapshot in the evidence store, as analytics writes it.
        snapshot = tmp_path / "evidence" / SNAPSHOT
        snapshot.parent.mkdir(parents=True)
        ok, jpeg = cv2.imencode(".jpg", np.full((96, 128, 3), (32, 176, 255), np.uint8))
        assert ok
        snapshot.write_bytes(jpeg.tobytes())
        store_sightings(engine, [faced(obama2_embedding(provisioned), now - 900)])
        engine.dispose()
        token = httpx.post(
            f"{url}/api/auth/login", json={"username": USER, "password": PASSWORD}
        ).json()["access_token"]
        r = httpx.post(
            f"{url}/api/users",
            json={
                "username": OPERATOR,
                "password": OPERATOR_PASSWORD,
                "department": "police",
                "roles": ["wall_operator"],
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201, r.text
        yield url
    finally:
        stop()


def plated(camera: str, at: float, track: int) -> Sighting:
    return Sighting.model_validate(
        {
            "camera_id": camera,
            "track_id": track,
            "class_name": "car",
            "first_seen": at,
            "last_seen": at + 6,
            "score": 0.82,
            "box": {"x1": 0.1, "y1": 0.4, "x2": 0.4, "y2": 0.8},
            "plate": "皖S12345",
            "plate_score": 0.93,
            "snapshot_ref": SNAPSHOT if camera == TRAJECTORY[0] else None,
        }
    )


def obama2_embedding(data_dir: Path) -> list[float]:
    img = cv2.imread(str(pull_samples(data_dir)["obama2.jpg"]))
    frame = np.asarray(img, np.uint8)
    analyzer = FaceAnalyzer(data_dir, min_size=24)
    face = max(analyzer.usable_faces(frame), key=lambda f: f.box[2] - f.box[0])
    return [float(v) for v in analyzer.embed(frame, face)]


def faced(embedding: list[float], at: float) -> Sighting:
    return Sighting.model_validate(
        {
            "camera_id": "cam6",
            "track_id": 99,
            "class_name": "person",
            "first_seen": at,
            "last_seen": at + 3,
            "score": 0.9,
            "box": {"x1": 0.4, "y1": 0.2, "x2": 0.6, "y2": 0.9},
            "face_embedding": embedding,
        }
    )


# Pixels of the trajectory's colour (#ffb020) on the map: it was drawn, not just listed.
TRAJECTORY_PIXELS = """() => {
  const c = document.getElementById('sr-map');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i] === 0xff && d[i + 1] === 0xb0 && d[i + 2] === 0x20) n += 1;
  }
  return n;
}"""


def test_plate_trajectory_listed_and_drawn(search_api: str) -> None:
    with open_wall(search_api) as page:
        tab = page.locator("#tabs [data-tab=search]")
        tab.wait_for(state="visible")  # an administrator may search
        tab.click()
        page.select_option("#sr-kind", "plate")
        page.uncheck("#sr-fuzzy")  # exact: the misread sighting (another car's?) left out
        page.fill("#sr-case", "HF-2026-0042")  # a search names its case (audited)
        page.fill("#sr-text", "皖S·12345")  # the form investigators type; canonicalised
        page.click("#sr-form button[type=submit]")
        page.wait_for_selector("#sr-results .hit >> nth=2")
        cameras = page.eval_on_selector_all(
            "#sr-results .hit", "els => els.map(e => e.dataset.camera)"
        )
        assert cameras == TRAJECTORY
        assert page.inner_text("#sr-results .hit >> nth=0 >> .camera") == "Camera 2"
        assert "皖S12345" in page.inner_text("#sr-results .hit >> nth=0 >> .detail")
        assert page.get_attribute("#sr-map", "data-trajectory") == ",".join(TRAJECTORY)
        assert page.evaluate(TRAJECTORY_PIXELS) > 200
        assert page.inner_text("#sr-status").startswith("3 sightings")
        # The first hit's snapshot, fetched with the session's token; the others have none.
        page.wait_for_function(
            "document.querySelector('#sr-results .hit .thumb img')?.naturalWidth === 128"
        )
        assert page.eval_on_selector_all("#sr-results .hit .thumb img", "e => e.length") == 1
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "search-trajectory.png"))
        # Forgiving OCR: the sighting read as 皖SI2345 joins the trajectory, in time order.
        page.check("#sr-fuzzy")
        page.click("#sr-form button[type=submit]")
        page.wait_for_selector("#sr-results .hit >> nth=3")
        cameras = page.eval_on_selector_all(
            "#sr-results .hit", "els => els.map(e => e.dataset.camera)"
        )
        assert cameras == ["cam1", *TRAJECTORY]
        assert "皖SI2345" in page.inner_text("#sr-results .hit >> nth=0 >> .detail")
        # The listed sightings as a CSV file for the case.
        with page.expect_download() as download:
            page.click("#sr-export")
        assert download.value.suggested_filename == "sightings-HF-2026-0042.csv"
        exported = Path(download.value.path()).read_text(encoding="utf-8-sig").splitlines()
        assert len(exported) == 1 + 4 and "皖SI2345" in exported[1]
        # A result goes onto the wall's selected tile.
        page.click("#sr-results .hit >> nth=2")
        assert page.evaluate("window.sharpeye.tiles()")[0] == "cam4"
        assert page.is_visible("#page-wall")


def test_photo_search_finds_the_face_with_its_distance(search_api: str) -> None:
    photo = pull_samples(get_settings().data_dir)["obama.jpg"]  # another photo of the man
    with open_wall(search_api) as page:
        page.click("#tabs [data-tab=search]")
        page.select_option("#sr-kind", "photo")
        assert page.is_hidden("#sr-text")
        page.set_input_files("#sr-photo", str(photo))
        page.fill("#sr-case", "HF-2026-0042")
        page.click("#sr-form button[type=submit]")
        page.wait_for_selector("#sr-results .hit")
        assert page.eval_on_selector_all("#sr-results .hit", "e => e.length") == 1
        assert page.inner_text("#sr-results .hit .camera") == "Camera 6"
        assert page.inner_text("#sr-results .hit .detail").startswith("distance 0.")
        assert page.get_attribute("#sr-map", "data-trajectory") == "cam6"


def test_a_wall_operator_has_no_search_tab(search_api: str) -> None:
    with open_wall(search_api, OPERATOR, OPERATOR_PASSWORD) as page:
        page.wait_for_function("window.sharpeye.catalog.cameras.length === 6")
        assert page.locator("#tabs [data-tab=search]").is_hidden()


def test_a_white_car_is_found_by_what_it_looked_like(search_api: str) -> None:
    with open_wall(search_api) as page:
        page.click("#tabs [data-tab=search]")
        page.select_option("#sr-kind", "looks")
        assert page.is_hidden("#sr-text") and page.is_hidden("#sr-lower")
        page.select_option("#sr-class", "car")
        page.select_option("#sr-color", "white")
        page.fill("#sr-case", "HF-2026-0042")
        page.click("#sr-form button[type=submit]")
        page.wait_for_selector("#sr-results .hit")
        cameras = page.eval_on_selector_all(
            "#sr-results .hit", "els => els.map(e => e.dataset.camera)"
        )
        assert cameras == ["cam3"]
        page.select_option("#sr-class", "person")
        assert page.is_visible("#sr-lower")  # trousers: for people only
