"""`sharpeye onvif probe` (camera.onvif.cli.probe): tables on success, one clear line and exit
code 1 on failure, never the password."""

from __future__ import annotations

import pytest

from camera.onvif import cli
from sharpeye.simulate.onvif_peer import OnvifPeer
from tests.camera.onvif.conftest import PASSWORD, RTSP_PATH_MAIN, USER

pytestmark = pytest.mark.integration


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_ONVIF_USER", USER)
    monkeypatch.setenv("T_ONVIF_PASS", PASSWORD)
    monkeypatch.setenv("T_ONVIF_BAD", "not-" + PASSWORD)


def test_probe_prints_device_and_profiles(
    onvif_peer: OnvifPeer, creds: None, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = cli.probe("127.0.0.1", onvif_peer.devices[0].port, "T_ONVIF_USER", "T_ONVIF_PASS")
    out = capsys.readouterr().out
    assert rc == 0
    for expected in ("Sharpeye Sim", "SimCam-1", "Profile_Main", "1280x720", RTSP_PATH_MAIN):
        assert expected in out
    assert f"streams.main: rtsp://127.0.0.1:8554{RTSP_PATH_MAIN}" in out


def test_probe_with_wrong_password_exits_1(
    onvif_peer: OnvifPeer, creds: None, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = cli.probe("127.0.0.1", onvif_peer.devices[0].port, "T_ONVIF_USER", "T_ONVIF_BAD")
    captured = capsys.readouterr()
    assert rc == 1
    assert "OnvifAuthError" in captured.err and "refused the credentials" in captured.err
    assert PASSWORD not in captured.err + captured.out


def test_probe_with_unset_env_var_exits_1(
    onvif_peer: OnvifPeer, creds: None, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = cli.probe("127.0.0.1", onvif_peer.devices[0].port, "T_ONVIF_USER", "T_ONVIF_NOPE")
    assert rc == 1
    assert "T_ONVIF_NOPE" in capsys.readouterr().err


def test_probe_of_a_closed_port_exits_1(
    closed_port: int, creds: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.probe("127.0.0.1", closed_port, "T_ONVIF_USER", "T_ONVIF_PASS") == 1
    assert "is unreachable (connection refused)" in capsys.readouterr().err
