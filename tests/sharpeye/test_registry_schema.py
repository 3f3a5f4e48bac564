"""The registry models on their own: field checks, geometry, URLs, and the Registry helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from sharpeye.registry import (
    Camera,
    CredentialRef,
    Line,
    Registry,
    Sampling,
    Zone,
    redact_url,
    with_credentials,
)
from sharpeye.registry.geometry import polygon_problem, segments_intersect

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def camera(camera_id: str, department: str, groups: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "id": camera_id,
        "name": camera_id,
        "department": department,
        "groups": groups,
        "location": {"lat": 31.82, "lon": 117.22},
        "streams": {"main": f"rtsp://127.0.0.1:8554/sim/vtest-720p/{camera_id}"},
        **extra,
    }


def registry(**overrides: Any) -> Registry:
    data: dict[str, Any] = {
        "version": 1,
        "district": {"id": "demo", "name": "Demo"},
        "departments": [
            {"id": "police", "name": "Police", "kind": "police"},
            {"id": "education", "name": "Education", "kind": "education"},
            {"id": "tourism", "name": "Tourism", "kind": "tourism"},
            {"id": "school-1", "name": "School 1", "kind": "education", "parent": "education"},
        ],
        "groups": [
            {"id": "schools", "name": "Schools", "department": "education"},
            {"id": "scenic", "name": "Scenic", "department": "tourism"},
        ],
        "cameras": [
            camera("school-gate", "education", ["schools"]),
            camera("lakeside", "tourism", ["scenic"]),
            camera("station", "police", []),
            camera("yard", "police", ["schools"]),
        ],
        "grants": [
            {"department": "police", "groups": ["schools", "scenic"]},
            {
                "department": "tourism",
                "groups": ["schools"],
                "expires": NOW + timedelta(hours=1),
            },
        ],
    }
    data.update(overrides)
    return Registry.model_validate(data)


def test_helpers() -> None:
    reg = registry()
    assert reg.camera("lakeside").department == "tourism"
    with pytest.raises(KeyError):
        reg.camera("nope")
    assert reg.cameras_by_id is reg.cameras_by_id  # cached
    assert [c.id for c in reg.department_cameras("police")] == ["station", "yard"]
    assert reg.department("school-1").parent == "education"


def test_visible_camera_ids_honours_ownership_grants_and_expiry() -> None:
    reg = registry()
    assert reg.visible_camera_ids("police", NOW) == {"school-gate", "lakeside", "station", "yard"}
    # education owns the schools group, so it sees the police camera placed in it.
    assert reg.visible_camera_ids("education", NOW) == {"school-gate", "yard"}
    assert reg.visible_camera_ids("tourism", NOW) == {"lakeside", "school-gate", "yard"}
    later = NOW + timedelta(hours=2)
    assert reg.visible_camera_ids("tourism", later) == {"lakeside"}
    assert reg.visible_camera_ids("school-1", NOW) == set()
    with pytest.raises(KeyError):
        reg.visible_camera_ids("polce", NOW)


def test_direct_validation_runs_cross_checks_naming_the_camera() -> None:
    with pytest.raises(ValidationError) as caught:
        registry(cameras=[camera("gate", "education", ["harbour"])])
    assert "cameras[0].groups[0] (id=gate): unknown group 'harbour'" in str(caught.value)


def test_department_parent_cycle() -> None:
    departments = [
        {"id": "a", "name": "A", "kind": "other", "parent": "b"},
        {"id": "b", "name": "B", "kind": "other", "parent": "a"},
    ]
    with pytest.raises(ValidationError, match="its own ancestor"):
        registry(departments=departments, groups=[], cameras=[], grants=[])


def test_zone_and_line_ids_share_one_namespace_per_camera() -> None:
    analytics = {
        "zones": [{"id": "gate", "name": "Gate", "polygon": [[0, 0], [1, 0], [1, 1]]}],
        "lines": [{"id": "gate", "name": "Gate line", "points": [[0, 0.5], [1, 0.5]]}],
    }
    cams = [camera("school-gate", "education", [], analytics=analytics)]
    with pytest.raises(ValidationError) as caught:
        registry(cameras=cams, grants=[])
    assert "cameras[0].analytics.lines[0].id (id=school-gate): duplicate zone/line id" in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("polygon", "problem"),
    [
        ([(0.1, 0.1), (0.9, 0.1), (0.5, 0.9)], None),
        ([(0.1, 0.1), (0.9, 0.1), (0.9, 0.9), (0.1, 0.9)], None),
        ([(0.0, 0.0), (1.0, 0.0), (0.5, 0.5), (1.0, 1.0), (0.0, 1.0)], None),  # concave
        ([(0.1, 0.1), (0.9, 0.9)], "needs at least 3 points"),
        ([(0.1, 0.1), (0.9, 0.9), (0.9, 0.1), (0.1, 0.9)], "self-intersecting"),
        ([(0.1, 0.1), (0.5, 0.5), (0.9, 0.9)], "zero area"),
        ([(0.1, 0.1), (0.9, 0.1), (0.9, 0.1), (0.5, 0.9)], "repeats a point"),
        # A spike that folds back along its own edge.
        ([(0.1, 0.1), (0.9, 0.1), (0.5, 0.1), (0.5, 0.9)], "self-intersecting"),
        # Touching itself counts as crossing: a vertex on another edge, or a vertex twice.
        ([(0, 0), (1, 0), (1, 1), (0.5, 0), (0, 1)], "self-intersecting"),
        ([(0, 0), (1, 0), (0.5, 0.5), (1, 1), (0, 1), (0.5, 0.5)], "repeats a point"),
    ],
)
def test_polygon_problems(polygon: list[tuple[float, float]], problem: str | None) -> None:
    found = polygon_problem(polygon)
    assert found is None if problem is None else (found is not None and problem in found)


def test_segments_intersect() -> None:
    assert segments_intersect((0, 0), (1, 1), (0, 1), (1, 0))
    assert not segments_intersect((0, 0), (1, 0), (0, 1), (1, 1))
    assert segments_intersect((0, 0), (1, 0), (0.5, 0), (2, 0))  # collinear overlap
    assert not segments_intersect((0, 0), (1, 0), (2, 0), (3, 0))


@pytest.mark.parametrize(
    ("model", "data", "exception"),
    [
        (Zone, {"id": "z", "name": "Z", "polygon": [[0, 0], [1, 0], [1, 1]]}, None),
        (Zone, {"id": "z", "name": "Z", "polygon": [[0, 0], [1, 0], [1, 1.01]]}, "less than"),
        (Zone, {"id": "z", "name": "Z", "polygon": [[0, 0], [1, 0], [1]]}, "Field required"),
        (Line, {"id": "l", "name": "L", "points": [[0, 0], [1, 1]]}, None),
        (Line, {"id": "l", "name": "L", "points": [[0, 0], [0, 0]]}, "two distinct points"),
        (Line, {"id": "l", "name": "L", "points": [[0, 0], [1, 1], [1, 0]]}, "at most 2"),
        (Line, {"id": "l", "name": "L", "points": [[0, 0], [1, 1]], "direction": "up"}, "both"),
        (Sampling, {"mode": "fps", "fps": 30}, None),
        (Sampling, {"mode": "fps", "fps": 31}, "less than or equal to 30"),
        (Sampling, {"mode": "fps", "fps": 0}, "greater than 0"),
        (Sampling, {"mode": "fps"}, "fps is required"),
        (Sampling, {"mode": "off", "fps": 1}, "only used when mode is 'fps'"),
        (Sampling, {"mode": False}, None),  # YAML's bare `off`
        (CredentialRef, {"username": "u", "password_env": "P"}, None),
        (CredentialRef, {"secret": "cam-1"}, None),
        (CredentialRef, {"username": "u"}, "exactly one of password_env or secret"),
        (CredentialRef, {"password_env": "P", "secret": "s"}, "exactly one"),
        (CredentialRef, {"username": "u", "password": "x"}, "inline passwords are not allowed"),
        (CredentialRef, {"username": "u", "password_env": 7}, "should be a valid string"),
        (CredentialRef, {"username": "u", "username_env": "U", "secret": "s"}, "not both"),
    ],
)
def test_section_models(model: Any, data: dict[str, Any], exception: str | None) -> None:
    if exception is None:
        model.model_validate(data)
    else:
        with pytest.raises(ValidationError, match=exception):
            model.model_validate(data)


@pytest.mark.parametrize(
    ("streams", "onvif", "exception"),
    [
        ({"main": "rtsp://cam.example:554/live"}, None, None),
        ({"main": "rtsps://[fe80::1]:322/live", "sub": "rtsp://10.0.0.1/s"}, None, None),
        ({"main": "rtsp://user@10.0.0.1/live"}, None, None),  # a user alone is no secret
        (None, {"host": "10.0.0.1"}, None),
        (None, None, "needs streams.main or onvif"),
        ({"main": "http://10.0.0.1/live"}, None, "rtsp:// or rtsps://"),
        ({"main": "rtsp:///live"}, None, "no host"),
        ({"main": "rtsp://10.0.0.1:99999/live"}, None, "bad host or port"),
        ({"main": "rtsp://u:topsecret@10.0.0.1/live"}, None, "rtsp://u:\\*\\*\\*@10.0.0.1/live"),
        (None, {"host": "10.0.0.1", "port": 0}, "greater than or equal to 1"),
    ],
)
def test_camera_sources(
    streams: dict[str, str] | None, onvif: dict[str, Any] | None, exception: str | None
) -> None:
    data = camera("c", "police", [], streams=streams, onvif=onvif)
    if exception is None:
        Camera.model_validate(data)
        return
    with pytest.raises(ValidationError, match=exception) as caught:
        Camera.model_validate(data)
    assert "topsecret" not in str(caught.value)


def test_redact_and_inline_urls() -> None:
    assert redact_url("rtsp://u:p%40ss@h:554/x?y=1") == "rtsp://u:***@h:554/x?y=1"
    assert redact_url("rtsp://h/x") == "rtsp://h/x"
    full = with_credentials("rtsp://h:554/x", "ad min", "p@ss:/")
    assert full == "rtsp://ad%20min:p%40ss%3A%2F@h:554/x"
    assert redact_url(full) == "rtsp://ad%20min:***@h:554/x"


def test_models_are_frozen_snapshots() -> None:
    reg = registry()
    with pytest.raises(ValidationError):
        reg.cameras[0].enabled = False  # type: ignore[misc]
