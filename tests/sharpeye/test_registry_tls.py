"""The camera `tls:` block (rtsps:// trust): accepted forms, and errors with file:line."""

from __future__ import annotations

import pytest

from camera.rtsp.tls import TlsOptions, tls_options
from sharpeye.registry import parse_registry
from tests.sharpeye.test_registry_loader import HEADER, SOURCE, problems_of

# A camera on rtsps://, lines 9-16 (`tls:` on 16); its tls keys follow from line 17.
CAMERA = """\
  - id: harbour
    name: Harbour
    department: police
    location: {lat: 31.82, lon: 117.22}
    streams:
      main: rtsps://10.0.0.7/live
      sub: rtsp://10.0.0.7/sub
    tls:
"""
PIN = "AB:" * 31 + "CD"


def problem(tls_lines: str, camera: str = CAMERA) -> str:
    [found] = problems_of(HEADER + camera + tls_lines)
    return str(found)


def test_ca_file_and_pin_are_accepted() -> None:
    reg = parse_registry(HEADER + CAMERA + "      ca_file: /etc/sharpeye/cameras-ca.pem\n", SOURCE)
    cam = reg.camera("harbour")
    assert tls_options(cam.tls) == TlsOptions(ca_file="/etc/sharpeye/cameras-ca.pem")
    reg = parse_registry(HEADER + CAMERA + f"      sha256: '{PIN}'\n", SOURCE)
    options = tls_options(reg.camera("harbour").tls)
    assert options is not None and options.sha256 == "ab" * 31 + "cd"
    assert tls_options(None) is None


@pytest.mark.parametrize(
    ("tls_lines", "expected"),
    [
        pytest.param(
            "      sha256: 'AB:CD'\n",
            "camera_registry.yaml:17: cameras[0].tls.sha256 (id=harbour): a SHA-256 fingerprint "
            "is 32 bytes in hex, e.g. AB:CD:...:EF "
            "(`openssl x509 -noout -fingerprint -sha256 -in camera.crt`)",
            id="short-pin",
        ),
        pytest.param(
            "      ca_file: certs/ca.pem\n",
            "camera_registry.yaml:17: cameras[0].tls.ca_file (id=harbour): "
            "give an absolute path (ingest and relay run elsewhere)",
            id="relative-ca-file",
        ),
        pytest.param(
            f"      ca_file: /ca.pem\n      sha256: '{PIN}'\n",
            "camera_registry.yaml:18: cameras[0].tls.sha256 (id=harbour): "
            "give ca_file or sha256, not both",
            id="both",
        ),
        pytest.param(
            "      verify: false\n",
            "camera_registry.yaml:17: cameras[0].tls.verify (id=harbour): "
            "unknown key 'verify'; allowed: ca_file, sha256",
            id="no-verify-switch",
        ),
    ],
)
def test_bad_tls_blocks(tls_lines: str, expected: str) -> None:
    assert problem(tls_lines) == expected


def test_tls_on_plain_rtsp_streams_is_an_error() -> None:
    plain = CAMERA.replace("rtsps://", "rtsp://")
    assert problem("      ca_file: /ca.pem\n", plain) == (
        "camera_registry.yaml:16: cameras[0].tls (id=harbour): "
        "tls only applies to rtsps:// streams; these streams are rtsp://"
    )
