"""EmbeddedRedis against the real Debian redis-server."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import redis

from sharpeye.bus.connect import RedisUnavailableError, connect_sync, resolve_redis_url
from sharpeye.bus.embedded import EmbeddedRedis, EmbeddedRedisError, running_url, url_file
from sharpeye.settings import Settings

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); its state letter says it is gone.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[1][0] != "Z"


def _wait_gone(pid: int, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_starts_answers_stops_and_leaves_no_process(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)
    with server:
        pid = server.pid
        assert pid is not None and _alive(pid)
        assert server.url.startswith(f"redis://:{server.password}@127.0.0.1:")
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
    assert _wait_gone(pid)
    assert not server.is_running()
    server.stop()  # idempotent


def test_writes_url_file_and_removes_it_on_stop(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path) as server:
        assert url_file(tmp_path).read_text().strip() == server.url
        settings = Settings.model_validate({"SHARPEYE_DATA_DIR": tmp_path, "REDIS_URL": None})
        assert resolve_redis_url(settings) == server.url
        client = connect_sync(settings)
        assert client.ping()
        client.close()
    assert not url_file(tmp_path).exists()


def test_the_bus_needs_its_password_and_keeps_it_out_of_sight(tmp_path: Path) -> None:
    """Any local process could otherwise read the fleet's health and put events or alarms
    on the bus; the password is in files only the owner reads, never on a command line."""
    with EmbeddedRedis(tmp_path) as server:
        assert server.pid is not None
        stranger = redis.Redis(host="127.0.0.1", port=int(server.url.rsplit(":", 1)[1][:-2]))
        with pytest.raises(redis.AuthenticationError):
            stranger.xadd("sharpeye:events", {"event": "{}"})
        with pytest.raises(redis.AuthenticationError):
            stranger.hgetall("sharpeye:health")
        stranger.close()
        wrong = server.url.replace(server.password, "guess")
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(wrong).ping()
        assert url_file(tmp_path).stat().st_mode & 0o777 == 0o600
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes()
        assert server.password.encode() not in cmdline
        configs = list((tmp_path / "run").glob("redis-*.conf"))
        assert [c.stat().st_mode & 0o777 for c in configs] == [0o600]
        assert server.password not in server.safe_url
        assert server.password not in (tmp_path / "run" / "redis.log").read_text()
    assert not list((tmp_path / "run").glob("redis-*.conf"))


def test_running_url_sees_a_live_owner_only(tmp_path: Path) -> None:
    assert running_url(tmp_path) is None
    with EmbeddedRedis(tmp_path) as server:
        assert running_url(tmp_path) == server.url
        url = server.url
    # A URL file left behind by a crashed owner points at nothing.
    url_file(tmp_path).write_text(url + "\n")
    assert running_url(tmp_path) is None


def test_no_persistence_when_asked(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path, write_url_file=False, persist=False) as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        client.close()


def test_events_survive_a_restart(tmp_path: Path) -> None:
    """Events not yet turned into alarms must outlive a Redis restart (append-only file)."""
    with EmbeddedRedis(tmp_path, write_url_file=False) as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        client.xadd("sharpeye:events", {"event": "{}"})
        client.close()  # stop() is a SIGTERM: Redis fsyncs the append-only file on the way out
    with EmbeddedRedis(tmp_path, write_url_file=False) as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        assert client.xlen("sharpeye:events") == 1
        client.close()


def test_two_servers_get_distinct_ports(tmp_path: Path) -> None:
    with (
        EmbeddedRedis(tmp_path / "a") as a,
        EmbeddedRedis(tmp_path / "b") as b,
    ):
        assert a.url != b.url


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "a", write_url_file=False) as first:
        port = int(first.url.rsplit(":", 1)[1].split("/")[0])
        with pytest.raises(EmbeddedRedisError, match="exited"):
            EmbeddedRedis(tmp_path / "b", port=port, write_url_file=False).start()


def test_missing_binary_names_install_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("sharpeye.bus.embedded.DEBIAN_REDIS_SERVER", str(tmp_path / "nope"))
    with pytest.raises(EmbeddedRedisError, match=r"scripts/install-system\.sh"):
        EmbeddedRedis(tmp_path).start()


def test_dies_with_its_owner(tmp_path: Path) -> None:
    """SIGKILL the owner: PR_SET_PDEATHSIG must take its Redis down too."""
    owner_code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from sharpeye.bus.embedded import EmbeddedRedis
        server = EmbeddedRedis(Path({str(tmp_path)!r}))
        server.start()
        print(server.pid, flush=True)
        time.sleep(60)
        """
    )
    owner = subprocess.Popen([sys.executable, "-c", owner_code], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        redis_pid = int(owner.stdout.readline())
        assert _alive(redis_pid)
        owner.kill()
        owner.wait()
        assert _wait_gone(redis_pid), "embedded redis-server outlived its killed owner"
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()


def test_resolve_prefers_redis_url(tmp_path: Path) -> None:
    url_file(tmp_path).parent.mkdir(parents=True)
    url_file(tmp_path).write_text("redis://127.0.0.1:1/0\n")
    settings = Settings.model_validate(
        {"SHARPEYE_DATA_DIR": tmp_path, "REDIS_URL": "redis://example:6379/0"}
    )
    assert resolve_redis_url(settings) == "redis://example:6379/0"


def test_resolve_without_any_redis_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(RedisUnavailableError, match=r"set REDIS_URL or run `sharpeye up`"):
        resolve_redis_url(
            Settings.model_validate({"SHARPEYE_DATA_DIR": tmp_path, "REDIS_URL": None})
        )


def test_connect_to_dead_redis_names_it(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"SHARPEYE_DATA_DIR": tmp_path, "REDIS_URL": "redis://:hunter2@127.0.0.1:1/0"}
    )
    with pytest.raises(
        RedisUnavailableError, match=r"no Redis at redis://:\*\*\*@127\.0\.0\.1:1/0"
    ) as e:
        connect_sync(settings)
    assert "hunter2" not in str(e.value)


def test_redis_password_is_added_to_an_external_url(tmp_path: Path) -> None:
    """Compose and Kubernetes keep REDIS_URL in plain configuration and the password in a
    secret (REDIS_PASSWORD); a URL that carries its own password keeps it."""
    with EmbeddedRedis(tmp_path, write_url_file=False) as server:
        bare = server.safe_url
        settings = Settings.model_validate(
            {"SHARPEYE_DATA_DIR": tmp_path, "REDIS_URL": bare, "REDIS_PASSWORD": server.password}
        )
        client = connect_sync(settings)
        assert client.ping()
        client.close()
        without = Settings.model_validate({"SHARPEYE_DATA_DIR": tmp_path, "REDIS_URL": bare})
        with pytest.raises(RedisUnavailableError) as err:
            connect_sync(without)
        assert server.password not in str(err.value)
        assert server.password not in repr(settings)
