"""Loading registry files: the shipped one loads, and every problem names file:line and key."""

from __future__ import annotations

import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sharpeye.registry import Problem, RegistryError, load_registry, parse_registry
from sharpeye.registry.yaml_source import compose_document

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
SOURCE = "camera_registry.yaml"

# Lines 1-8; cases below add cameras from line 9 (and grants after them).
HEADER = """\
version: 1
district: {id: demo, name: Demo District}
departments:
  - {id: police, name: Police, kind: police}
  - {id: education, name: Education, kind: education}
groups:
  - {id: schools, name: Schools, department: education}
cameras:
"""
# A valid camera, lines 9-15 when it comes first.
GATE = """\
  - id: school-gate
    name: School gate
    department: education
    groups: [schools]
    location: {lat: 31.82, lon: 117.22}
    streams:
      main: rtsp://127.0.0.1:8554/sim/vtest-720p/school-gate
"""


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(RegistryError) as caught:
        parse_registry(text, SOURCE)
    return caught.value.problems


def test_shipped_registry_loads() -> None:
    registry = load_registry(REPO / "camera_registry.yaml")
    assert registry.district.id == "demo"
    assert {d.id for d in registry.departments} >= {
        "police",
        "education",
        "fisheries",
        "forestry",
        "city_management",
        "tourism",
        "food_safety",
    }
    mouth = registry.camera("fishing-port-mouth")
    assert mouth.streams is None and mouth.onvif is not None and mouth.onvif.port == 8003
    police = registry.camera("police-station-gate")
    assert police.credentials is not None
    assert police.credentials.password_env == "SHARPEYE_SIM_RTSP_PASSWORD"
    assert registry.camera("forest-lookout-2").analytics.sampling.mode == "off"
    # Police sees every camera through its grant.
    assert registry.visible_camera_ids("police") == set(registry.cameras_by_id)
    # City management's Golden Week grant on the scenic spots runs out.
    during = datetime(2027, 10, 1, tzinfo=UTC)
    after = datetime(2027, 10, 9, tzinfo=UTC)
    assert "scenic-lakeside" in registry.visible_camera_ids("city_management", during)
    assert "scenic-lakeside" not in registry.visible_camera_ids("city_management", after)


def test_valid_minimal_file() -> None:
    registry = parse_registry(HEADER + GATE, SOURCE)
    assert [c.id for c in registry.cameras] == ["school-gate"]


def test_problem_string_format() -> None:
    text = HEADER + GATE.replace("rtsp://127.0.0.1", "http://127.0.0.1")
    [problem] = problems_of(text)
    assert str(problem) == (
        "camera_registry.yaml:15: cameras[0].streams.main (id=school-gate): "
        "must be an rtsp:// or rtsps:// URL"
    )


# An alarm rule, lines 16-20 after HEADER + GATE.
RULE = """\
alarm_rules:
  - id: gate-fire
    name: Fire at the gate
    event_types: [fire]
    departments: [police]
"""
SECOND = GATE.replace("school-gate", "school-yard").replace("School gate", "School yard")

BAD_CASES = [
    pytest.param(
        HEADER + GATE + GATE,
        16,
        "cameras[1].id (id=school-gate)",
        "duplicate camera id 'school-gate' (cameras[0])",
        id="duplicate-camera-id",
    ),
    pytest.param(
        HEADER + GATE.replace("department: education", "department: educaton"),
        11,
        "cameras[0].department (id=school-gate)",
        "unknown department 'educaton'",
        id="unknown-department",
    ),
    pytest.param(
        HEADER + SECOND + GATE.replace("[schools]", "[schools, harbour]"),
        19,
        "cameras[1].groups[1] (id=school-gate)",
        "unknown group 'harbour'",
        id="unknown-group-in-camera",
    ),
    pytest.param(
        HEADER + GATE + RULE.replace("[police]", "[police, forestry]"),
        20,
        "alarm_rules[0].departments[1] (id=gate-fire)",
        "unknown department 'forestry'",
        id="unknown-department-in-alarm-rule",
    ),
    pytest.param(
        HEADER + GATE + RULE + "    cameras: [school-gate, school-gat]\n",
        21,
        "alarm_rules[0].cameras[1] (id=gate-fire)",
        "unknown camera 'school-gat'",
        id="unknown-camera-in-alarm-rule",
    ),
    pytest.param(
        HEADER + GATE + RULE + RULE[len("alarm_rules:\n") :],
        21,
        "alarm_rules[1].id (id=gate-fire)",
        "duplicate alarm rule id 'gate-fire' (alarm_rules[0])",
        id="duplicate-alarm-rule",
    ),
    pytest.param(
        HEADER + GATE + RULE + "    timezone: Asia/Beijing\n",
        21,
        "alarm_rules[0].timezone (id=gate-fire)",
        "unknown timezone 'Asia/Beijing' (use an IANA name)",
        id="alarm-rule-timezone",
    ),
    pytest.param(
        HEADER + GATE + "grants:\n  - department: police\n    groups: [schools, plaza]\n",
        18,
        "grants[0].groups[1] (department=police)",
        "unknown group 'plaza'",
        id="unknown-group-in-grant",
    ),
    pytest.param(
        HEADER
        + GATE
        + "    analytics:\n"
        + "      zones:\n"
        + "        - id: bowtie\n"
        + "          name: Crossed\n"
        + "          polygon: [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]\n",
        20,
        "cameras[0].analytics.zones[0].polygon (id=school-gate)",
        "polygon is self-intersecting: edge 0->1 crosses edge 2->3",
        id="self-intersecting-polygon",
    ),
    pytest.param(
        HEADER
        + GATE
        + "    analytics:\n"
        + "      zones:\n"
        + "        - id: gate\n"
        + "          name: Gate\n"
        + "          polygon:\n"
        + "            - [0.1, 0.1]\n"
        + "            - [1.5, 0.1]\n"
        + "            - [0.5, 0.9]\n",
        22,
        "cameras[0].analytics.zones[0].polygon[1][0] (id=school-gate)",
        "Input should be less than or equal to 1",
        id="coordinate-out-of-range",
    ),
    pytest.param(
        HEADER + GATE.replace("lat: 31.82", "lat: 131.82"),
        13,
        "cameras[0].location.lat (id=school-gate)",
        "Input should be less than or equal to 90",
        id="latitude-out-of-range",
    ),
    pytest.param(
        HEADER
        + GATE
        + "    analytics:\n"
        + "      zones: [{id: gate, name: Gate, polygon: [[0.1, 0.1], [0.9, 0.9]]}]\n",
        17,
        "cameras[0].analytics.zones[0].polygon (id=school-gate)",
        "a polygon needs at least 3 points, got 2",
        id="polygon-two-points",
    ),
    pytest.param(
        HEADER + GATE.replace("main: rtsp://", "main: rtmp://"),
        15,
        "cameras[0].streams.main (id=school-gate)",
        "must be an rtsp:// or rtsps:// URL",
        id="bad-url-scheme",
    ),
    pytest.param(
        HEADER + GATE + "    credentials: {username: admin, password: Hunter2-secret}\n",
        16,
        "cameras[0].credentials.password (id=school-gate)",
        "inline passwords are not allowed: use password_env: ENV_VAR or secret: KEY "
        "(in the secrets file named by SHARPEYE_SECRETS_FILE)",
        id="inline-credentials-password",
    ),
    pytest.param(
        HEADER + GATE + "    analytics:\n      sampling:\n        mode: fps\n",
        17,
        "cameras[0].analytics.sampling.fps (id=school-gate)",
        "fps is required when mode is 'fps'",
        id="fps-missing",
    ),
    pytest.param(
        HEADER + GATE + "    analytics: {sampling: {mode: keyframes, fps: 5}}\n",
        16,
        "cameras[0].analytics.sampling.fps (id=school-gate)",
        "fps is only used when mode is 'fps', not 'keyframes'",
        id="fps-without-fps-mode",
    ),
    pytest.param(
        HEADER + GATE + "    tags: [a, b\n    enabled: true\n",
        17,
        "",
        "YAML syntax error: ",
        id="yaml-syntax-error",
    ),
    pytest.param(
        HEADER + GATE + "    name: Gate again\n",
        16,
        "cameras[0].name (id=school-gate)",
        "duplicate key 'name' (first at line 10)",
        id="duplicate-yaml-key",
    ),
    pytest.param(
        HEADER + GATE.replace("    streams:", "    stream:"),
        14,
        "cameras[0].stream (id=school-gate)",
        "unknown key 'stream'; did you mean 'streams'?",
        id="unknown-key-with-hint",
    ),
    pytest.param(
        HEADER + GATE.replace("      main: rtsp", "      sub: rtsp"),
        14,
        "cameras[0].streams.main (id=school-gate)",
        "required key is missing",
        id="missing-key-points-at-parent",
    ),
    pytest.param(
        HEADER + GATE.replace("id: school-gate", "id: School_Gate"),
        9,
        "cameras[0].id (id=School_Gate)",
        "ids are 1-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit",
        id="bad-id",
    ),
    pytest.param(
        HEADER
        + GATE.replace(
            "    streams:\n      main: rtsp://127.0.0.1:8554/sim/vtest-720p/school-gate\n", ""
        ),
        9,
        "cameras[0] (id=school-gate)",
        "a camera needs streams.main or onvif (which supplies the URLs)",
        id="no-stream-source",
    ),
    pytest.param(
        HEADER
        + GATE
        + "grants:\n  - {department: police, groups: [schools], expires: 2026-06-30}\n",
        17,
        "grants[0].expires (department=police)",
        "give a date and time with a timezone, e.g. 2026-06-30T23:59:59+08:00",
        id="grant-expiry-without-timezone",
    ),
]


@pytest.mark.parametrize(("text", "line", "key", "message"), BAD_CASES)
def test_bad_input_is_located(text: str, line: int, key: str, message: str) -> None:
    problems = problems_of(text)
    assert len(problems) == 1, [str(p) for p in problems]
    [problem] = problems
    assert (problem.file, problem.line, problem.key) == (SOURCE, line, key)
    assert problem.message.startswith(message)
    where = f"{SOURCE}:{line}: {key}: " if key else f"{SOURCE}:{line}: "
    assert str(problem).startswith(where + message)


def test_inline_url_password_is_rejected_and_never_echoed() -> None:
    secret = "Hunter2-very-secret"
    text = HEADER + GATE.replace("rtsp://127.0.0.1", f"rtsp://admin:{secret}@127.0.0.1")
    with pytest.raises(RegistryError) as caught:
        parse_registry(text, SOURCE)
    [problem] = caught.value.problems
    assert (problem.line, problem.key) == (15, "cameras[0].streams.main (id=school-gate)")
    assert "rtsp://admin:***@127.0.0.1:8554/sim/vtest-720p/school-gate" in problem.message
    assert "credentials" in problem.message
    # Not in the problem, nor in the printed traceback (a chained ValidationError would
    # show the input value).
    assert secret not in str(caught.value)
    assert secret not in "".join(traceback.format_exception(caught.value))


def test_inline_credentials_password_is_never_echoed() -> None:
    text = HEADER + GATE + "    credentials: {username: admin, password: Hunter2-secret}\n"
    with pytest.raises(RegistryError) as caught:
        parse_registry(text, SOURCE)
    assert "Hunter2-secret" not in str(caught.value)


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(RegistryError) as caught:
        load_registry(DATA / "registry_many_problems.yaml")
    expected = (DATA / "registry_many_problems.expected").read_text().splitlines()
    source = str(DATA / "registry_many_problems.yaml")
    assert [str(p).replace(source, "FILE") for p in caught.value.problems] == expected
    assert "hunter2" not in str(caught.value)


def test_references_to_an_invalid_item_are_not_reported_again() -> None:
    # The education department is invalid (bad kind); cameras that name it must not also
    # get "unknown department".
    text = (HEADER + GATE).replace("kind: education}", "kind: school}")
    [problem] = problems_of(text)
    assert (problem.line, problem.key) == (5, "departments[1].kind (id=education)")


def test_alarm_rule_references_are_checked_beside_schema_problems() -> None:
    # A bad stream URL (schema problem) must not hide a rule routed to an unknown department,
    # and a rule with its own schema problem still gets its references checked.
    text = HEADER + GATE.replace("rtsp://", "http://") + RULE.replace("[police]", "[polce]")
    text += "  - {id: r2, name: R2, event_types: [], departments: [fire-brigade]}\n"
    found = {(p.line, p.key, p.message) for p in problems_of(text)}
    rule0 = "alarm_rules[0].departments[0] (id=gate-fire)"
    assert (20, rule0, "unknown department 'polce'") in found
    rule1 = "alarm_rules[1].departments[0] (id=r2)"
    assert (21, rule1, "unknown department 'fire-brigade'") in found
    assert any(p[1] == "alarm_rules[1].event_types (id=r2)" for p in found), found
    assert any(p[1] == "cameras[0].streams.main (id=school-gate)" for p in found), found


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", 1, "expected a mapping"),
        ("- just\n- a list\n", 1, "expected a mapping"),
        ("version: 1\n---\nversion: 1\n", 2, "expected one YAML document"),
        ("a: *nowhere\n", 1, "undefined (or recursive) alias *nowhere"),
        ("a: !custom x\n", 1, "unsupported YAML tag !custom"),
    ],
)
def test_document_level_problems(text: str, line: int, message: str) -> None:
    problems = problems_of(text)
    assert any(p.line == line and message in p.message for p in problems), problems


def test_anchors_and_merge_keys_keep_lines() -> None:
    text = (
        HEADER
        + "  - &gate\n"  # 9
        + "    id: school-gate\n"
        + "    name: School gate\n"
        + "    department: education\n"
        + "    location: {lat: 31.82, lon: 117.22}\n"
        + "    streams: {main: 'rtsp://127.0.0.1/a'}\n"  # 14
        + "  - <<: *gate\n"  # 15
        + "    id: school-yard\n"
        + "    groups: [schools, nope]\n"  # 17
        + "    streams: {main: 'http://127.0.0.1/b'}\n"  # 18
    )
    problems = problems_of(text)
    assert [(p.line, p.key) for p in problems] == [
        (17, "cameras[1].groups[1] (id=school-yard)"),
        (18, "cameras[1].streams.main (id=school-yard)"),
    ]
    doc = compose_document(text)
    assert doc.data["cameras"][1]["name"] == "School gate"
    assert doc.lines[("cameras", 1, "name")] == 11  # merged: the anchor's line
    assert doc.lines[("cameras", 1, "id")] == 16


def test_yaml_one_one_scalars_resolve_like_safe_load() -> None:
    import yaml

    text = "a: [on, off, yes, 0x1F, 1_000, 1:30, .5, ~, '007', 2026-01-02, 2026-01-02T03:04:05Z]\n"
    assert compose_document(text).data == yaml.safe_load(text)


def test_unquoted_off_means_sampling_off() -> None:
    text = HEADER + GATE + "    analytics: {sampling: {mode: off}}\n"
    registry = parse_registry(text, SOURCE)
    assert registry.cameras[0].analytics.sampling.mode == "off"


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    path.write_bytes(b"version: 1\nname: \xff\xfe\n")
    with pytest.raises(RegistryError) as caught:
        load_registry(path)
    assert str(caught.value) == f"{path}:2: not valid UTF-8 text"


def test_missing_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_registry(tmp_path / "absent.yaml")


def generated_registry(cameras: int) -> str:
    """A registry of `cameras` cameras spread over 20 groups, each with a zone and a line."""
    out = [
        "version: 1",
        "district: {id: big, name: Big District}",
        "departments:",
        "  - {id: police, name: Police, kind: police}",
        "  - {id: city, name: City Management, kind: city_management}",
        "groups:",
        *(f"  - {{id: g{g}, name: Group {g}, department: city}}" for g in range(20)),
        "cameras:",
    ]
    for i in range(cameras):
        host = f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"
        out += [
            f"  - id: cam{i:05d}",
            f"    name: Camera {i}",
            "    department: city",
            f"    groups: [g{i % 20}]",
            f"    location: {{lat: {31 + i / 1e5:.5f}, lon: {117 + i / 1e5:.5f}}}",
            "    streams:",
            f"      main: rtsp://{host}:554/main",
            f"      sub: rtsp://{host}:554/sub",
            "    credentials: {username: admin, password_env: CAM_PASSWORD}",
            "    analytics:",
            "      sampling: {mode: fps, fps: 2}",
            "      zones:",
            "        - id: z1",
            "          name: Zone",
            "          polygon: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]",
            "      lines:",
            "        - {id: l1, name: Line, points: [[0.1, 0.5], [0.9, 0.5]]}",
            "    tags: [generated]",
        ]
    out += ["grants:", "  - {department: police, groups: [g0, g1, g2]}"]
    return "\n".join(out) + "\n"


@pytest.mark.slow
def test_ten_thousand_cameras_load(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(generated_registry(10_000))
    started = time.perf_counter()
    registry = load_registry(path)
    elapsed = time.perf_counter() - started
    # Timings are reported, never asserted (see benchmarks/ for tracked numbers).
    print(f"\n10,000 cameras ({path.stat().st_size / 1e6:.1f} MB) loaded in {elapsed:.2f} s")
    assert len(registry.cameras) == 10_000
    assert registry.camera("cam09999").groups == ["g19"]
    assert len(registry.visible_camera_ids("police")) == 1_500
