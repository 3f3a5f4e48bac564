"""A shift's logs at INFO: what real processes write through configure_logging holds no
library chatter (Alembic's plugin lines, aioice's per-pair lines, uvicorn's per request)
and no secret (camera passwords in URLs, login tokens, Authorization values)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from sharpeye.bus.embedded import free_port
from sharpeye.logs import scrub

REPO = Path(__file__).resolve().parents[2]
CAMERA_URL = "rtsp://admin:cam-pass-4711@127.0.0.1:8554/secure/vtest-720p/cam1"
BEARER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return e.code


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (CAMERA_URL, "cam-pass-4711"),
        ("redis://:redis-pass@10.0.0.5:6379/0", "redis-pass"),
        ("postgresql+psycopg://sharpeye:pg-pass@db/sharpeye", "pg-pass"),
        ("rtsp://u:p@ss-word@cam:554/x", "ss-word"),
        (f"GET /whep/cam1?token={BEARER} HTTP/1.1", BEARER),
        ("GET /api/alarms/ws?access_token=opaque-value-1 HTTP/1.1", "opaque-value-1"),
        ("{'authorization': 'Bearer opaque-value-2'}", "opaque-value-2"),
        ("Authorization: Basic YWRtaW46YWRtaW4=", "YWRtaW46YWRtaW4="),
        ("{'x-api-key': 'sk_0a1b2c3d_secretpart'}", "secretpart"),
        ("login form username=admin&password=hunter22", "hunter22"),
    ],
)
def test_scrub_masks_each_kind_of_secret(text: str, secret: str) -> None:
    clean = scrub(text)
    assert secret not in clean
    assert "***" in clean


def test_scrub_leaves_ordinary_lines_alone() -> None:
    for text in (
        "http://127.0.0.1:8080/api/cameras?limit=10",
        "rtsp://127.0.0.1:8554/sim/vtest-720p/cam1",
        "camera cam1 online (reader native, 25.0 fps)",
        "alarm #12 escalated to level 1: tokens=3 key=value",
    ):
        assert scrub(text) == text


# A process configured as every service is, then doing what the services do: migrate a
# fresh store (Alembic), connect an ICE pair on loopback (aioice, as the relay does for each
# viewer) and log what libraries and our code log around cameras and logins.
_PROCESS = textwrap.dedent(
    """
    import asyncio, logging, sys
    from sharpeye.logs import configure_logging
    from sharpeye.settings import Settings
    from sharpeye.store.db import upgrade_database

    configure_logging()
    upgrade_database(Settings.model_validate({"SHARPEYE_DATA_DIR": sys.argv[1]}))

    async def ice_pair() -> None:
        import aioice
        # Loopback only, as the relay's default (relay.ice): no test traffic off 127.0.0.1.
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
        a = aioice.Connection(ice_controlling=True, use_ipv6=False)
        b = aioice.Connection(ice_controlling=False, use_ipv6=False)
        await asyncio.gather(a.gather_candidates(), b.gather_candidates())
        for x, y in ((a, b), (b, a)):
            for c in y.local_candidates:
                await x.add_remote_candidate(c)
            await x.add_remote_candidate(None)
            x.remote_username, x.remote_password = y.local_username, y.local_password
        await asyncio.gather(a.connect(), b.connect())
        await a.send(b"ping")
        assert await b.recv() == b"ping"
        await asyncio.gather(a.close(), b.close())

    asyncio.run(ice_pair())
    logging.getLogger("ingest.session").warning("cam1: reconnecting to %s", sys.argv[2])
    headers = {"authorization": "Bearer " + sys.argv[3]}
    logging.getLogger("uvicorn.error").info("headers %s", headers)
    try:
        raise ConnectionError("cannot reach " + sys.argv[2])
    except ConnectionError:
        logging.getLogger("relay.upstream").exception("pull failed")
    logging.getLogger("sharpeye.test").info("done")
    """
)


def test_a_process_logs_no_chatter_and_no_secret(tmp_path: Path) -> None:
    env = {**os.environ, "SHARPEYE_LOG_FORMAT": "json"}
    env.pop("SHARPEYE_LOG_LEVELS", None)
    out = subprocess.run(
        [sys.executable, "-c", _PROCESS, str(tmp_path), CAMERA_URL, BEARER],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    records = _json_lines(out.stderr)
    loggers = [r["logger"] for r in records]
    assert "sharpeye.test" in loggers  # the process logged, through our handler
    assert "alembic.runtime.plugins" not in loggers
    assert not [r for r in records if r["logger"].startswith(("aioice", "aiortc"))]
    assert not [r for r in records if r["msg"].startswith(("Context impl", "Will assume"))]
    # The migrations that ran are still said: an operator wants those.
    assert any(r["msg"].startswith("Running upgrade") for r in records)
    for secret in ("cam-pass-4711", BEARER):
        assert secret not in out.stderr
    reconnect = next(r for r in records if r["logger"] == "ingest.session")
    assert reconnect["msg"] == "cam1: reconnecting to " + scrub(CAMERA_URL)
    failure = next(r for r in records if r["logger"] == "relay.upstream")
    assert "ConnectionError: cannot reach rtsp://admin:***@" in failure["exc"]


@pytest.mark.integration
def test_the_api_process_logs_no_token(tmp_path: Path, redis_url: str) -> None:
    """`sharpeye api` with the access log turned on: request lines carry tokens, the log not."""
    port = free_port()
    env = {
        **os.environ,
        "SHARPEYE_REGISTRY": str(REPO / "camera_registry.yaml"),
        "SHARPEYE_DATA_DIR": str(tmp_path),
        "REDIS_URL": redis_url,
        "SHARPEYE_API_PORT": str(port),
        "SHARPEYE_BOOTSTRAP_ADMIN": "log-admin:log-admin-pass",
        "SHARPEYE_LOG_FORMAT": "json",
        "SHARPEYE_LOG_LEVELS": "uvicorn.access=info",
    }
    err = tmp_path / "api.log"
    with err.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sharpeye.cli", "api"],
            cwd=REPO,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, err.read_text()
            assert time.monotonic() < deadline, err.read_text()
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.2)
        login = urllib.request.Request(
            f"{base}/api/auth/login",
            data=json.dumps({"username": "log-admin", "password": "log-admin-pass"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(login) as resp:
            token = json.load(resp)["access_token"]
        # Whether the API takes a query token or not (401), uvicorn logs the request line.
        assert _status(f"{base}/api/cameras?token={token}&limit=1") in (200, 401)
        assert _status(f"{base}/docs") == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    text = err.read_text()
    records = _json_lines(text)
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert any("/api/cameras?token=" in r["msg"] for r in access), text
    assert token not in text and "log-admin-pass" not in text
    assert "alembic.runtime.plugins" not in {r["logger"] for r in records}


def test_an_outage_is_a_few_lines_not_one_per_try(caplog: pytest.LogCaptureFixture) -> None:
    """A camera retried every second for a night: the first failure, a reminder every
    `every_s` with the count, and the recovery; the tries between only at DEBUG."""
    import logging

    from sharpeye.logs import Outage

    logger = logging.getLogger("test.outage")
    outage = Outage(logger, every_s=0.3)
    with caplog.at_level(logging.INFO, logger="test.outage"):
        outage.ended("cam1: back")  # nothing failed: nothing to say
        for _ in range(10):
            outage.failed("cam1: reopen failed: %s", "cannot connect")
        time.sleep(0.35)
        outage.failed("cam1: reopen failed: %s", "cannot connect")
        outage.failed("cam1: reopen failed: %s", "cannot connect")
        outage.ended("cam1: back")
        outage.failed("cam1: reopen failed: %s", "refused")
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "cam1: reopen failed: cannot connect"
    assert lines[1].startswith("cam1: reopen failed: cannot connect (still failing: 11 tries")
    assert lines[2].startswith("cam1: back (after 12 tries in ")
    assert lines[3] == "cam1: reopen failed: refused"  # a new outage starts afresh
    assert len(lines) == 4
