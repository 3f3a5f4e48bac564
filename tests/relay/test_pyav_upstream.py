"""The relay pulls through FFmpeg (relay.pyav_pull) the cameras our RTSP client cannot read,
following the registry's `ingest.reader` as ingest does: a UDP-only camera (`/udp/...`, 461 to
a TCP SETUP) in `auto` plays over WHEP, late joiners start from the GOP cache, `native` is a
clear 502, and a Digest camera pulled over UDP never shows its password."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from relay.gop import NAL_PPS, NAL_SPS, nal_types
from relay.whep_client import WhepRefused, WhepViewer
from sharpeye.registry import parse_registry
from tests.fixtures_fleet import Fleet, free_port, stop_and_check
from tests.relay.fixtures_relay import RelayHandle, eventually, start_relay

pytestmark = pytest.mark.integration

PASSWORD = "pw-Relay-Pyav-Secret-71"
WRONG = PASSWORD + "-wrong"

REGISTRY = """\
version: 1
district: {{id: t, name: T}}
departments: [{{id: police, name: Police, kind: police}}]
cameras:
  - id: u-auto
    name: UDP only, reader auto
    department: police
    location: {{lat: 31.8, lon: 117.2}}
    streams: {{main: "rtsp://127.0.0.1:{port}/udp/vtest-360p/u"}}
  - id: u-native
    name: UDP only, reader native
    department: police
    location: {{lat: 31.8, lon: 117.2}}
    streams: {{main: "rtsp://127.0.0.1:{port}/udp/vtest-360p/u"}}
    ingest: {{reader: native}}
  - id: s-pyav
    name: Digest over UDP through FFmpeg
    department: police
    location: {{lat: 31.8, lon: 117.2}}
    streams: {{main: "rtsp://127.0.0.1:{port}/secure/vtest-360p/s"}}
    credentials: {{username: {user}, password_env: SHARPEYE_TEST_PYAV_PASSWORD}}
    ingest: {{reader: pyav, transport: udp}}
  - id: s-wrong
    name: Digest, wrong password
    department: police
    location: {{lat: 31.8, lon: 117.2}}
    streams: {{main: "rtsp://127.0.0.1:{port}/secure/vtest-360p/s"}}
    credentials: {{username: {user}, password_env: SHARPEYE_TEST_PYAV_WRONG}}
    ingest: {{reader: pyav, transport: udp}}
"""


@contextlib.contextmanager
def fleet_and_relay(tmp: Path, **relay_settings: Any) -> Iterator[tuple[Fleet, RelayHandle]]:
    pytest.importorskip("gi", reason="the fleet needs Debian's python3-gi in the venv")
    port = free_port()
    registry = tmp / "registry.yaml"
    fleet = Fleet(
        cameras=0, registry=registry, port=port, env={"SHARPEYE_SIM_RTSP_PASSWORD": PASSWORD}
    )
    registry.write_text(REGISTRY.format(port=port, user=fleet.user))
    mp = pytest.MonkeyPatch()
    mp.setenv("SHARPEYE_TEST_PYAV_PASSWORD", PASSWORD)
    mp.setenv("SHARPEYE_TEST_PYAV_WRONG", WRONG)
    fleet.start()
    try:
        handle = start_relay(
            parse_registry(registry.read_text(), "relay-pyav"), tmp, **relay_settings
        )
        try:
            yield fleet, handle
        finally:
            handle.stop()
    finally:
        mp.undo()
        stop_and_check(fleet)


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory, footage: object) -> Iterator[RelayHandle]:
    with fleet_and_relay(tmp_path_factory.mktemp("relay-pyav")) as (_, handle):
        yield handle


def pull_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("relay-pyav-") and t.is_alive()]


async def test_udp_only_camera_in_auto_plays_and_late_joiners_start_from_the_gop(
    relay: RelayHandle,
) -> None:
    first = WhepViewer(relay.whep("u-auto", "main"), relay.token("u-auto"))
    await first.start(timeout=30)
    late = WhepViewer(relay.whep("u-auto", "main"), relay.token("u-auto"))
    try:
        async for frame in first.frames():
            assert (frame.width, frame.height) == (640, 360)  # decoded by the viewer
            break
        assert await first.count_frames(30) >= 30
        upstream = relay.upstream("u-auto")
        # Our client met the 461 and handed the camera to FFmpeg, once.
        assert upstream.reader == "pyav" and upstream.opens == 1
        assert upstream.keyframes >= 1
        # Well into a GOP (50 frames): the next keyframe is far away.
        while upstream.frames % 50 < 10:
            await first.count_frames(first.frames_decoded + 1)
        await late.start()
        assert await late.count_frames(5) >= 5
        primed = [
            s.track.first_frame
            for s in relay.state.manager.sessions.values()
            if s.camera_id == "u-auto"
            and s.track.first_frame is not None
            and s.track.subscribed_at is not None
            and s.track.first_frame.received_at < s.track.subscribed_at
        ]
        # The late joiner's first frame came from the cache, and it is a keyframe that
        # carries its SPS/PPS (browsers cannot start without them).
        assert primed and all(f is not None and f.keyframe for f in primed)
        assert all(f is not None and {NAL_SPS, NAL_PPS} <= nal_types(f.data) for f in primed)
        assert upstream.opens == 1  # both viewers share one FFmpeg pull
    finally:
        await late.stop()
        await first.stop()


async def test_udp_only_camera_on_native_is_a_clear_502(
    relay: RelayHandle, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(WhepRefused) as refused:
        await WhepViewer(relay.whep("u-native", "main"), relay.token("u-native")).start()
    assert refused.value.status == 502
    # The browser learns the kind of failure; the relay's log says what to do about it.
    assert refused.value.detail == "camera u-native: transport refused by the camera"
    assert "461" in caplog.text and "reader: pyav" in caplog.text


async def test_digest_camera_through_ffmpeg_never_shows_the_password(
    relay: RelayHandle, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    viewer = WhepViewer(relay.whep("s-pyav", "main"), relay.token("s-pyav"))
    await viewer.start(timeout=30)
    try:
        assert await viewer.count_frames(20) >= 20
        assert relay.upstream("s-pyav").reader == "pyav"
    finally:
        await viewer.stop()
    with pytest.raises(WhepRefused) as refused:
        await WhepViewer(relay.whep("s-wrong", "main"), relay.token("s-wrong")).start(timeout=30)
    assert refused.value.status == 502
    detail = refused.value.detail
    assert detail == "camera s-wrong: login refused"
    assert "refused the credentials (401)" in caplog.text
    out, err = capfd.readouterr()
    for text in (caplog.text, detail, out, err):
        for secret in (PASSWORD, WRONG):
            assert secret not in text


async def test_ffmpeg_pull_reconnects_and_its_thread_ends_with_the_upstream(
    tmp_path: Path, footage: object
) -> None:
    with fleet_and_relay(tmp_path, SHARPEYE_RELAY_IDLE_S=0.5) as (fleet, relay):
        viewer = WhepViewer(relay.whep("u-auto", "main"), relay.token("u-auto"))
        await viewer.start(timeout=30)
        try:
            assert await viewer.count_frames(10) >= 10
            upstream = relay.upstream("u-auto")
            # The camera's server dies and comes back: the same upstream pulls it again,
            # straight through FFmpeg (no second try with our client).
            await asyncio.to_thread(fleet.kill)
            await asyncio.to_thread(fleet.start)
            before = viewer.frames_decoded
            assert await viewer.count_frames(before + 25, timeout=60) >= before + 25
            assert relay.upstream("u-auto") is upstream and upstream.opens == 2
            assert upstream.reader == "pyav"
        finally:
            await viewer.stop()
        # The last viewer left: the upstream closes when idle, and FFmpeg's thread with it.
        await eventually(lambda: upstream.closed and not pull_threads(), timeout=10)
