"""The wall stays usable with 10,000 cameras: the tree is virtual, search is instant enough."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sharpeye.settings import Settings
from tests.wall_ui.conftest import PASSWORD, USER, open_wall, serve_in_thread

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CAMERAS = 10_000


def big_registry(n: int) -> str:
    lines = [
        "version: 1",
        "district: {id: big, name: Big District}",
        "departments:",
        *[f"  - {{id: d{d}, name: Department {d}, kind: other}}" for d in range(10)],
        "groups:",
        *[f"  - {{id: g{g}, name: Group {g}, department: d{g % 10}}}" for g in range(50)],
        "cameras:",
    ]
    for i in range(n):
        lines.append(
            f"  - {{id: cam{i:05d}, name: Camera {i:05d}, department: d{i % 10}, "
            f"groups: [g{i % 50}], location: {{lat: {30 + (i % 100) * 0.01:.2f}, "
            f"lon: {117 + (i // 100) * 0.01:.2f}}}, "
            f"streams: {{main: 'rtsp://127.0.0.1:9/c{i}'}}}}"
        )
    return "\n".join(lines) + "\n"


@pytest.fixture
def big_api(redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from command_api.app import create_app

    registry = tmp_path / "camera_registry.yaml"
    registry.write_text(big_registry(CAMERAS))
    monkeypatch.setenv("SHARPEYE_BOOTSTRAP_ADMIN", f"{USER}:{PASSWORD}")
    settings = Settings.model_validate(
        {"SHARPEYE_REGISTRY": registry, "SHARPEYE_DATA_DIR": tmp_path, "REDIS_URL": redis_url}
    )
    url, stop = serve_in_thread(create_app(settings))
    try:
        yield url
    finally:
        stop()


def test_ten_thousand_cameras_in_the_tree(big_api: str) -> None:
    with open_wall(big_api) as page:
        page.wait_for_function("window.sharpeye.catalog.cameras.length === 10000")
        assert page.inner_text("#tree-info") == "10000 cameras"
        page.click("#tree .row.department >> nth=0")  # Department 0: 1,000 cameras
        group = page.locator("#tree .row.group >> nth=0")
        # The registry's name (from GET /api/groups), not the id the cameras carry.
        assert group.get_attribute("data-group") == "g0"
        assert group.inner_text() == "▸ Group 0 (200)"
        group.click()
        rows = page.locator("#tree .row").count()
        assert 0 < rows < 100, rows  # virtual: only what is in view exists
        page.fill("#search", "camera 09876")
        page.wait_for_selector("#tree .row.camera[data-camera='cam09876']")
        assert page.inner_text("#tree-info") == "1 of 10000 cameras match"
        page.dblclick("#tree .row.camera[data-camera='cam09876']")
        assert page.evaluate("window.sharpeye.tiles()")[0] == "cam09876"
        page.fill("#search", "group 49")  # a group's name finds its cameras
        page.wait_for_selector("#tree .row.camera[data-camera='cam00049']")
        assert page.inner_text("#tree-info") == "200 of 10000 cameras match"
        picker = page.locator("#tour-group optgroup[label=Groups] option[value='group:g7']")
        assert picker.inner_text() == "Group 7"
