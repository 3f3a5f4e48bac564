"""`sharpeye status` against a real Redis: the table, the summary, and clear failures."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rich.console import Console
from typer.testing import CliRunner

from sharpeye.bus.embedded import EmbeddedRedis
from sharpeye.bus.health import HEALTH_KEY
from sharpeye.cli import app
from sharpeye.contracts.health import CameraHealth, CameraState
from sharpeye.settings import Settings, get_settings
from sharpeye.status import show_status

pytestmark = pytest.mark.integration

PASSWORD = "pw-status-Secret-42"
REGISTRY = """\
version: 1
district: {id: demo, name: Demo District}
departments:
  - {id: police, name: District Police, kind: police}
  - {id: edu, name: Education Bureau, kind: education}
cameras:
  - id: cam-square-1
    name: Square north
    department: police
    location: {lat: 31.2, lon: 117.3}
    streams: {main: "rtsp://127.0.0.1:8554/sq1"}
    credentials: {username: operator-bob, password_env: SHARPEYE_TEST_STATUS_PASSWORD}
  - id: cam-school-1
    name: School gate [east]
    department: edu
    location: {lat: 31.21, lon: 117.31}
    streams: {main: "rtsp://127.0.0.1:8554/school"}
  - id: cam-harbour
    name: Harbour
    department: police
    location: {lat: 31.22, lon: 117.32}
    streams: {main: "rtsp://127.0.0.1:8554/harbour"}
  - id: cam-new
    name: Not yet reported
    department: edu
    location: {lat: 31.23, lon: 117.33}
    streams: {main: "rtsp://127.0.0.1:8554/new"}
"""


def _health(camera_id: str, state: CameraState, age_s: float = 0.5, **kw: object) -> str:
    fields: dict[str, object] = {
        "camera_id": camera_id,
        "node_id": "node-3",
        "state": state,
        "fps": 14.9,
        "bitrate_kbps": 777.0,
        "keyframe_interval_s": 2.0,
        "last_frame_age_s": 0.1,
        "decode_errors": 5,
        "reconnects": 1,
        "updated_at": time.time() - age_s,
    }
    fields.update(kw)
    return CameraHealth.model_validate(fields).model_dump_json()


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHARPEYE_TEST_STATUS_PASSWORD", PASSWORD)
    path = tmp_path / "camera_registry.yaml"
    path.write_text(REGISTRY)
    return path


@pytest.fixture
def published(redis_url: str) -> Iterator[redis.Redis]:
    r = redis.Redis.from_url(redis_url)
    r.hset(
        HEALTH_KEY,
        mapping={
            "cam-square-1": _health("cam-square-1", CameraState.ONLINE),
            "cam-school-1": _health("cam-school-1", CameraState.DEGRADED, decode_errors=90),
            # Its worker stopped reporting a minute ago.
            "cam-harbour": _health("cam-harbour", CameraState.ONLINE, age_s=60),
            "cam-gone": _health("cam-gone", CameraState.ONLINE),
        },
    )
    yield r
    r.close()


def _run(settings: Settings, **kw: bool) -> tuple[int, str]:
    out = io.StringIO()
    code = show_status(settings, console=Console(file=out, width=220, color_system=None), **kw)
    return code, out.getvalue()


def _settings(tmp_path: Path, registry: Path, redis_url: str | None) -> Settings:
    return Settings.model_validate(
        {"SHARPEYE_REGISTRY": registry, "SHARPEYE_DATA_DIR": tmp_path, "REDIS_URL": redis_url}
    )


def _line(output: str, camera: str) -> str:
    return next(line for line in output.splitlines() if camera in line)


def test_prints_table_and_summary(
    tmp_path: Path, registry: Path, redis_url: str, published: redis.Redis
) -> None:
    code, out = _run(_settings(tmp_path, registry, redis_url))
    assert code == 0, out
    square = _line(out, "cam-square-1")
    assert "Square north" in square and "District Police" in square and "online" in square
    assert "14.9" in square and "777" in square and "2.0" in square
    school = _line(out, "cam-school-1")
    # Brackets in a name print as written (no rich markup interpretation).
    assert "School gate [east]" in school and "degraded" in school and "90" in school
    assert "offline" in _line(out, "cam-harbour")
    assert "node-3 stopped?" in _line(out, "cam-harbour: ")
    assert "unknown" in _line(out, "cam-new")
    assert "not in the registry" in _line(out, "cam-gone: ")
    assert "5 cameras: 2 online, 1 degraded, 1 offline, 1 unknown" in out
    for secret in (PASSWORD, "operator-bob", "SHARPEYE_TEST_STATUS_PASSWORD", "rtsp://"):
        assert secret not in out


def test_a_camera_read_by_pyav_says_so(
    tmp_path: Path, registry: Path, redis_url: str, published: redis.Redis
) -> None:
    published.hset(HEALTH_KEY, "cam-new", _health("cam-new", CameraState.ONLINE, reader="pyav"))
    code, out = _run(_settings(tmp_path, registry, redis_url))
    assert code == 0, out
    assert "read through FFmpeg (pyav reader)" in _line(out, "cam-new: ")


def test_redis_unreachable_exits_1_naming_it(tmp_path: Path, registry: Path) -> None:
    code, out = _run(_settings(tmp_path, registry, "redis://127.0.0.1:1/0"))
    assert code == 1
    assert "no Redis at redis://127.0.0.1:1/0: is `make up` running?" in out


def test_no_redis_configured_says_what_to_do(tmp_path: Path, registry: Path) -> None:
    code, out = _run(_settings(tmp_path, registry, None))
    assert code == 1
    assert "set REDIS_URL or run `sharpeye up`" in out


def test_finds_the_embedded_redis_through_its_url_file(tmp_path: Path, registry: Path) -> None:
    data_dir = tmp_path / "data"
    with EmbeddedRedis(data_dir) as server:
        r = redis.Redis.from_url(server.url)
        r.hset(HEALTH_KEY, "cam-square-1", _health("cam-square-1", CameraState.ONLINE))
        r.close()
        code, out = _run(_settings(data_dir, registry, None))
    assert code == 0, out
    assert "online" in _line(out, "cam-square-1")


def test_invalid_registry_still_shows_health(
    tmp_path: Path, registry: Path, redis_url: str, published: redis.Redis
) -> None:
    registry.write_text("version: 1\ncameras: [")
    code, out = _run(_settings(tmp_path, registry, redis_url))
    assert code == 0, out
    assert "warning" in out and "camera_registry.yaml" in out
    assert "online" in _line(out, "cam-square-1")


def test_watch_refreshes_until_interrupted(
    tmp_path: Path,
    registry: Path,
    redis_url: str,
    published: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticks = 0

    def fake_sleep(_s: float) -> None:
        nonlocal ticks
        ticks += 1
        if ticks == 1:
            registry.write_text(REGISTRY.replace("Harbour", "Harbour west"))
        if ticks == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr("sharpeye.status.time.sleep", fake_sleep)
    code, out = _run(_settings(tmp_path, registry, redis_url), watch=True)
    assert code == 0
    assert "Harbour west" in out


def test_cli_status_command(
    tmp_path: Path, registry: Path, redis_url: str, published: redis.Redis
) -> None:
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app,
            ["status"],
            env={
                "REDIS_URL": redis_url,
                "SHARPEYE_REGISTRY": str(registry),
                "SHARPEYE_DATA_DIR": str(tmp_path),
                "COLUMNS": "220",
            },
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "Square north" in result.output and "2 online" in result.output


@pytest.mark.parametrize("width", [80, 100, 200])
def test_fits_the_terminal_without_squeezing_states_and_says_why(
    tmp_path: Path, registry: Path, redis_url: str, published: redis.Redis, width: int
) -> None:
    published.hset(
        HEALTH_KEY,
        "cam-square-1",
        _health(
            "cam-square-1",
            CameraState.DEGRADED,
            quality_issues=["frozen"],
            reason="picture frozen for 12 s",
        ),
    )
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None)
    assert show_status(_settings(tmp_path, registry, redis_url), console=console) == 0
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= width
    for camera, state in [
        ("cam-square-1", "degraded"),
        ("cam-school-1", "degraded"),
        ("cam-harbour", "offline"),
        ("cam-new", "unknown"),
    ]:
        assert re.search(rf"^{camera}\s.*\b{state}\b", text, re.M), (camera, state, text)
    assert "cam-square-1: picture frozen for 12 s" in text
    school = _line(text, "cam-school-1: ")
    assert school.split(": ", 1)[1].strip()  # a reason, even from a report without one
    if width >= 200:
        assert "Square north" in text and "District Police" in text and "kf s" in text
    if width == 100:
        assert "fps" in text and "age s" in text  # what matters most stays


async def _lease(redis_url: str, node: str, cameras: list[str]) -> set[str]:
    import redis.asyncio

    from ingest.leases import Leases

    r = redis.asyncio.Redis.from_url(redis_url)
    try:
        return await Leases(r, node, ttl_s=30).sync(cameras)
    finally:
        await r.aclose()


async def test_cluster_view_names_each_cameras_worker_token_and_the_gaps(
    tmp_path: Path, registry: Path, redis_url: str
) -> None:
    import asyncio

    # node-a alone leases two cameras; a worker that stopped still holds a third.
    assert await _lease(redis_url, "node-a", ["cam-square-1", "cam-school-1"]) == {
        "cam-square-1",
        "cam-school-1",
    }
    r = redis.Redis.from_url(redis_url)
    r.set("sharpeye:lease:{cam-harbour}", "node-gone|3", px=5000)
    r.close()
    code, out = await asyncio.to_thread(
        _run, _settings(tmp_path, registry, redis_url), cluster=True
    )
    assert code == 0, out
    assert re.search(r"node-a\s+\d+ s\s+2\s+67%", out), out  # worker, heartbeat, cameras, share
    square = _line(out, "cam-square-1 ")
    assert "node-a" in square and " 1 " in square  # the first lease: token 1
    assert "node-gone (stopped)" in _line(out, "cam-harbour ")
    assert re.search(r"node-gone\s+-\s+1\s+33%", out), out  # no heartbeat on record
    assert "nobody" in _line(out, "cam-new ")
    assert "unowned (no worker reads them): cam-new" in out
    assert "leased to a stopped worker (taken over when it expires): cam-harbour" in out
    assert "2 workers, 3 of 4 cameras leased, 1 unowned, 1 on a stopped worker" in out
