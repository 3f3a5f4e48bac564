"""Pytest plugin: a real PostgreSQL (Debian's binaries) in a temp dir for the whole session.

`postgres_server` yields an admin URL; `database_url` (parametrized) yields a fresh SQLite
or PostgreSQL database per test, so store tests run on both. PostgreSQL refuses to run as
root: as root the cluster is created and run as the `postgres` user (runuser). Skips with
the reason when no PostgreSQL binaries are installed (`scripts/install-system.sh` adds them).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def _pg_bin() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _as_owner(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


class PostgresCluster:
    """A PostgreSQL cluster of our own in `root` (initdb'd on start), stoppable and
    restartable: the session's server, or a private one for a test that restarts it."""

    def __init__(self, bin_dir: Path, root: Path, temp_base: Path) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.temp_base = temp_base  # the temp dirs below it get o+x for the postgres user
        self.data = root / "data"
        self.port = _free_port()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresCluster:
        if not self.data.exists():
            self._initdb()
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        log = self.root / "postgres.log"
        self._ctl(["-l", str(log), "-o", opts, "-w", "start"], check=True)
        return self

    def stop(self, mode: str = "immediate") -> None:
        self._ctl(["-m", mode, "-w", "stop"], check=False)

    def _ctl(self, args: list[str], check: bool) -> None:
        argv = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *args]
        subprocess.run(_as_owner(argv), check=check, capture_output=True)

    def _initdb(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            # The temp dirs above it must be traversable by the postgres user.
            for parent in self.root.parents:
                if str(parent).startswith(str(self.temp_base)):
                    parent.chmod(parent.stat().st_mode | 0o711)
        argv = [str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres"]
        argv += ["-A", "trust", "-E", "UTF8"]
        subprocess.run(_as_owner(argv), check=True, capture_output=True)


def _cluster(tmp_path_factory: pytest.TempPathFactory, name: str) -> PostgresCluster:
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries not installed (scripts/install-system.sh adds them)")
    base = tmp_path_factory.getbasetemp().parent
    return PostgresCluster(bin_dir, tmp_path_factory.mktemp(name), base)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cluster = _cluster(tmp_path_factory, "postgres").start()
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def private_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    """A cluster of the test's own, for tests that stop or restart it."""
    cluster = _cluster(tmp_path_factory, "postgres-private").start()
    try:
        yield cluster
    finally:
        cluster.stop()


def _fresh_postgres_database(admin_url: str) -> str:
    import sqlalchemy

    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database of each kind (the schema is the test's to create)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("database_url_postgresql")
    return url


@pytest.fixture
def database_url_postgresql(postgres_server: str) -> str:
    """A fresh, empty PostgreSQL database on the session's server."""
    return _fresh_postgres_database(postgres_server)
