"""The registry's `recording:` blocks: a camera's own, its groups', defaults, and errors that
name the file, line and key."""

from __future__ import annotations

import pytest

from sharpeye.registry import parse_registry
from sharpeye.registry.recording import Recording
from tests.sharpeye.test_registry_loader import GATE, HEADER, SOURCE, problems_of

YARD = """\
  - id: yard
    name: Yard
    department: education
    groups: [schools]
    location: {lat: 31.82, lon: 117.22}
    streams: {main: "rtsp://127.0.0.1:8554/sim/vtest-720p/yard"}
"""
STATION = """\
  - id: station
    name: Station
    department: police
    location: {lat: 31.82, lon: 117.22}
    streams: {main: "rtsp://127.0.0.1:8554/sim/vtest-720p/station"}
"""
GROUP = "  - {id: schools, name: Schools, department: education}\n"


def _registry(group_block: str = "", gate_block: str = "") -> str:
    header = HEADER.replace(GROUP, GROUP.rstrip("}\n") + group_block + "}\n")
    return header + GATE + gate_block + YARD + STATION


def test_nothing_is_recorded_unless_asked() -> None:
    registry = parse_registry(_registry(), SOURCE)
    assert [registry.recording(c) for c in registry.cameras] == [None, None, None]


def test_a_group_records_its_cameras_and_a_camera_block_wins() -> None:
    text = _registry(
        ", recording: {retain_days: 7}",
        "    recording: {retain_days: 90, segment_s: 30}\n",
    )
    registry = parse_registry(text, SOURCE)
    gate, yard, station = (registry.recording(c) for c in registry.cameras)
    assert gate == Recording(retain_days=90, segment_s=30)
    assert yard == Recording(retain_days=7)  # the group's, segment_s defaults to 60
    assert yard is not None and yard.segment_s == 60.0
    assert station is None  # in no recorded group


def test_a_camera_may_opt_out_of_its_groups_recording() -> None:
    text = _registry(", recording: {}", "    recording: {enabled: false}\n")
    registry = parse_registry(text, SOURCE)
    gate, yard, _ = (registry.recording(c) for c in registry.cameras)
    assert gate is None and yard == Recording()


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("{retain_days: 0}", "retain_days (id=school-gate): Input should be greater than 0"),
        (
            "{segment_s: 1}",
            "segment_s (id=school-gate): Input should be greater than or equal to 2",
        ),
        (
            "{enable: true}",
            "enable (id=school-gate): unknown key 'enable'; did you mean 'enabled'?",
        ),
    ],
)
def test_errors_name_the_key(block: str, expected: str) -> None:
    found = [str(p) for p in problems_of(_registry("", f"    recording: {block}\n"))]
    assert found == [f"camera_registry.yaml:16: cameras[0].recording.{expected}"]
