"""The registry's `gb28181:` section: defaults, and errors naming file:line and the key."""

from __future__ import annotations

import pytest

from sharpeye.registry import parse_registry
from sharpeye.registry.gb28181 import PasswordRef
from tests.sharpeye.test_registry_loader import HEADER, SOURCE, problems_of

# `cameras: []` (lines 8-9); the section starts on line 10, platform_id on 11.
SECTION = """\
gb28181:
  platform_id: "34020000002000000001"
  device_password: {secret: gb-default}
  devices:
    - {id: "34020000001320000001", name: East gate NVR}
    - {id: "34020000001320000002", password: {password_env: GB_DEV2}}
"""


def test_section_with_defaults() -> None:
    registry = parse_registry(HEADER + "  []\n" + SECTION, SOURCE)
    gb = registry.gb28181
    assert gb is not None
    assert (gb.domain, gb.realm) == ("3402000000", "3402000000")
    assert (gb.listen.host, gb.listen.port, gb.listen.transports) == (
        "127.0.0.1",
        5060,
        ["udp", "tcp"],
    )
    assert (gb.keepalive_interval_s, gb.keepalive_misses) == (60.0, 3)
    assert gb.password_of("34020000001320000001") == PasswordRef(secret="gb-default")
    assert gb.password_of("34020000001320000002") == PasswordRef(password_env="GB_DEV2")
    assert gb.password_of("34020000001320000009") is None


def test_registry_without_the_section() -> None:
    assert parse_registry(HEADER + "  []\n", SOURCE).gb28181 is None


def test_unquoted_ids_are_read_as_digits() -> None:
    text = SECTION.replace('"34020000002000000001"', "34020000002000000001")
    registry = parse_registry(HEADER + "  []\n" + text, SOURCE)
    assert registry.gb28181 is not None
    assert registry.gb28181.platform_id == "34020000002000000001"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            '"34020000002000000001"',
            '"3402000000200000001"',
            "camera_registry.yaml:11: gb28181.platform_id: platform_id is 20 digits",
        ),
        (
            'id: "34020000001320000001", name',
            'id: "3402000000132000000x", name',
            "camera_registry.yaml:14: gb28181.devices[0].id: a device id is 20 digits",
        ),
        (
            "{password_env: GB_DEV2}",
            "hunter2",
            "camera_registry.yaml:15: gb28181.devices[1].password: inline passwords are not "
            "allowed",
        ),
        (
            "{password_env: GB_DEV2}",
            "{password_env: A, secret: b}",
            "camera_registry.yaml:15: gb28181.devices[1].password: give exactly one of",
        ),
        (
            "  device_password: {secret: gb-default}\n",
            "",
            "gb28181.devices: devices[0] (34020000001320000001): no password",
        ),
        (
            '"34020000001320000002"',
            '"34020000001320000001"',
            "gb28181.devices: devices[1]: duplicate device id 34020000001320000001",
        ),
        (
            "  devices:\n",
            "  keepalive_interval_s: 0\n  devices:\n",
            "gb28181.keepalive_interval_s: Input should be greater than 0",
        ),
        (
            "  devices:\n",
            "  listen: {port: 70000}\n  devices:\n",
            "gb28181.listen.port: Input should be less than or equal to 65535",
        ),
        (
            "  devices:\n",
            "  passwords: x\n  devices:\n",
            "gb28181.passwords: unknown key 'passwords'; did you mean 'device_password'?",
        ),
    ],
)
def test_errors_name_the_key(old: str, new: str, expected: str) -> None:
    text = HEADER + "  []\n" + SECTION.replace(old, new)
    found = [str(p) for p in problems_of(text)]
    assert any(expected in p for p in found), found
    assert not any("hunter2" in p for p in found)


# A camera on a GB/T 28181 channel, lines 9-14.
GB_CAMERA = """\
  - id: east-gate-gb
    name: East gate (GB)
    department: police
    location: {lat: 31.2, lon: 121.4}
    streams: {main: "gb28181://34020000001320000001/34020000001310000001"}
    analytics: {sampling: {mode: keyframes}}
"""


def test_gb28181_camera_is_read_by_the_gb_reader() -> None:
    from camera.resolve import Login, reach

    registry = parse_registry(HEADER + GB_CAMERA + SECTION, SOURCE)
    cam = registry.cameras_by_id["east-gate-gb"]
    assert cam.streams is not None
    spec = reach(cam, cam.streams.main, Login())
    assert spec["reader"] == "gb28181"
    assert spec["url"] == "gb28181://34020000001320000001/34020000001310000001"


@pytest.mark.parametrize(
    ("old", "new", "section", "expected"),
    [
        (
            "/34020000001310000001",
            "/3402000000131000001",
            SECTION,
            "camera_registry.yaml:13: cameras[0].streams.main (id=east-gate-gb): '"
            "gb28181://34020000001320000001/3402000000131000001' is not "
            "gb28181://<device id>/<channel id> (two 20-digit ids)",
        ),
        (
            "gb28181://34020000001320000001/",
            "gb28181://34020000001320000009/",
            SECTION,
            "camera_registry.yaml:13: cameras[0].streams.main (id=east-gate-gb): device "
            "34020000001320000009 is not in gb28181.devices",
        ),
        (
            "",
            "",
            "",
            "camera_registry.yaml:13: cameras[0].streams.main (id=east-gate-gb): a gb28181:// "
            "stream needs the registry's gb28181: section",
        ),
    ],
)
def test_gb28181_camera_errors_name_camera_and_key(
    old: str, new: str, section: str, expected: str
) -> None:
    text = HEADER + GB_CAMERA.replace(old, new) if old else HEADER + GB_CAMERA
    found = [str(p) for p in problems_of(text + section)]
    assert any(expected in p for p in found), found
