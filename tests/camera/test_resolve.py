"""A registry camera resolved to how it is reached (`camera.resolve`), as ingest's fleet and the
relay's sources both do it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from camera.resolve import Login, login, onvif_login, reach, rtsp_login, rtsp_or_onvif
from camera.rtsp.tls import TlsOptions
from camera.spec import StreamSpec
from relay.sources import SourceSpec
from sharpeye.registry import Camera
from sharpeye.registry.errors import CredentialError

PIN = "AB:" * 31 + "CD"


def camera(**fields: Any) -> Camera:
    base: dict[str, Any] = {
        "id": "gate",
        "name": "Gate",
        "department": "police",
        "location": {"lat": 31.8, "lon": 117.2},
    }
    return Camera.model_validate(base | fields)


def test_reach_takes_what_the_registry_says(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_RESOLVE_PW", "pw-Resolve-1")
    cam = camera(
        streams={"main": "rtsps://10.0.0.7/live"},
        credentials={
            "username": "op",
            "password_env": "T_RESOLVE_PW",
            "allow_basic_on_plain_rtsp": True,
        },
        tls={"sha256": PIN},
        ingest={"reader": "native"},
    )
    rtsp = rtsp_login(cam, None)
    assert rtsp == Login("op", "pw-Resolve-1") and "pw-Resolve" not in repr(rtsp)
    got = reach(cam, "rtsps://10.0.0.7/live", rtsp)
    assert got == {
        "camera_id": "gate",
        "url": "rtsps://10.0.0.7/live",
        "username": "op",
        "password": "pw-Resolve-1",
        "tls": TlsOptions(sha256="ab" * 31 + "cd"),
        "reader": "native",
        "transport": "auto",
        "allow_plain_basic": True,
    }
    # Both services build their spec from it: ingest's with sampling, the relay's with a kind.
    spec = StreamSpec(**got, sampling="keyframes")
    source = SourceSpec(**got, stream="main")
    assert asdict(source) == asdict(spec) | {"sampling": "off", "stream": "main"}


def test_no_credentials_no_login_and_no_plain_basic() -> None:
    cam = camera(streams={"main": "rtsp://10.0.0.7/live"})
    assert rtsp_login(cam, None) == Login()
    got = reach(cam, "rtsp://10.0.0.7/live", Login())
    assert got["tls"] is None and got["reader"] == "auto" and not got["allow_plain_basic"]


def test_an_onvif_camera_uses_the_onvif_login_unless_it_has_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("T_RESOLVE_ONVIF", "pw-Onvif-2")
    monkeypatch.setenv("T_RESOLVE_RTSP", "pw-Rtsp-3")
    onvif = {
        "host": "10.0.0.8",
        "credentials": {"username": "admin", "password_env": "T_RESOLVE_ONVIF"},
    }
    shared = camera(onvif=onvif)
    device = onvif_login(shared, None)
    assert device == Login("admin", "pw-Onvif-2")
    assert rtsp_or_onvif(rtsp_login(shared, None), device) == device
    own = camera(onvif=onvif, credentials={"username": "viewer", "password_env": "T_RESOLVE_RTSP"})
    assert rtsp_or_onvif(rtsp_login(own, None), device) == Login("viewer", "pw-Rtsp-3")


def test_a_missing_secret_is_a_credential_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("T_RESOLVE_MISSING", raising=False)
    cam = camera(
        streams={"main": "rtsp://10.0.0.7/live"},
        credentials={"username": "op", "password_env": "T_RESOLVE_MISSING"},
    )
    with pytest.raises(CredentialError, match="T_RESOLVE_MISSING"):
        rtsp_login(cam, None)
    assert login(None, None) == Login()
