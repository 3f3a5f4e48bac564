"""The camera `ingest:` block (which RTSP client reads it): accepted forms, file:line errors."""

from __future__ import annotations

import pytest

from sharpeye.registry import CameraIngest, parse_registry
from tests.sharpeye.test_registry_loader import HEADER, SOURCE, problems_of

# A camera on lines 9-15; `ingest:` on 15, its keys from line 16.
CAMERA = """\
  - id: quay
    name: Quay
    department: police
    location: {lat: 31.82, lon: 117.22}
    streams:
      main: rtsp://10.0.0.7/live
    ingest:
"""


def problem(lines: str, camera: str = CAMERA) -> str:
    [found] = problems_of(HEADER + camera + lines)
    return str(found)


def test_default_is_auto() -> None:
    reg = parse_registry(HEADER + CAMERA.removesuffix("    ingest:\n"), SOURCE)
    assert reg.camera("quay").ingest == CameraIngest(reader="auto", transport="auto")


def test_pyav_over_udp_is_accepted() -> None:
    reg = parse_registry(HEADER + CAMERA + "      reader: pyav\n      transport: udp\n", SOURCE)
    assert reg.camera("quay").ingest == CameraIngest(reader="pyav", transport="udp")


@pytest.mark.parametrize(
    ("lines", "camera", "expected"),
    [
        pytest.param(
            "      reader: ffmpeg\n",
            CAMERA,
            "camera_registry.yaml:16: cameras[0].ingest.reader (id=quay): "
            "Input should be 'auto', 'native' or 'pyav'",
            id="unknown-reader",
        ),
        pytest.param(
            "      reader: native\n      transport: udp\n",
            CAMERA,
            "camera_registry.yaml:17: cameras[0].ingest.transport (id=quay): transport applies "
            "to the pyav reader; the native reader always uses TCP (use reader: pyav or auto)",
            id="native-over-udp",
        ),
        pytest.param(
            "      reader: pyav\n",
            CAMERA.replace("rtsp://", "rtsps://"),
            "camera_registry.yaml:15: cameras[0].ingest (id=quay): the pyav reader cannot "
            "verify TLS certificates; rtsps:// streams use the native reader "
            "(reader: native or auto)",
            id="pyav-on-rtsps",
        ),
    ],
)
def test_bad_ingest_blocks(lines: str, camera: str, expected: str) -> None:
    assert problem(lines, camera) == expected
