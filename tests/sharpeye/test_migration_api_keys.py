"""The API-key expiry revision on SQLite and PostgreSQL: keys made before it (which never
expired) get the default 90 days from the upgrade, the column is then required, and the
revision goes down and up again cleanly."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from sharpeye.settings import Settings
from sharpeye.store.db import alembic_config, create_engine_for, upgrade_database

BEFORE = "f4b7c2d9e1a3"  # the audit revision, the one before API keys expire
EXPIRY = "a9d3e5f7b1c4"
DAY = 86400.0


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings.model_validate({"SHARPEYE_DATA_DIR": tmp_path, "DATABASE_URL": database_url})


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = create_engine_for(settings)
    try:
        yield eng
    finally:
        eng.dispose()


def _old_key(engine: Engine, prefix: str) -> None:
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO departments (id, name, kind, source, created_at) "
                "SELECT 'port', 'Port', 'fisheries', 'api', 0 "
                "WHERE NOT EXISTS (SELECT 1 FROM departments WHERE id = 'port')"
            )
        )
        c.execute(
            text(
                "INSERT INTO api_keys (prefix, key_sha256, name, department_id, roles, "
                "created_by, created_at) VALUES (:p, :h, 'gateway', 'port', '[]', 'admin', 0)"
            ),
            {"p": prefix, "h": "0" * 64},
        )


def test_keys_from_before_get_ninety_days_and_the_revision_round_trips(
    settings: Settings, engine: Engine
) -> None:
    upgrade_database(settings, BEFORE)
    _old_key(engine, "aaaa1111")
    _old_key(engine, "bbbb2222")
    started = time.time()
    upgrade_database(settings)
    with engine.connect() as c:
        rows = c.execute(text("SELECT prefix, expires_at, replaced_by FROM api_keys")).all()
    assert {r.prefix for r in rows} == {"aaaa1111", "bbbb2222"}
    for r in rows:
        assert started + 90 * DAY - 5 <= r.expires_at <= time.time() + 90 * DAY
        assert r.replaced_by is None
    columns = {c["name"]: c for c in inspect(engine).get_columns("api_keys")}
    assert columns["expires_at"]["nullable"] is False
    with pytest.raises(IntegrityError), engine.begin() as c:  # a key must end
        c.execute(
            text(
                "INSERT INTO api_keys (prefix, key_sha256, name, department_id, roles, "
                "created_by, created_at) VALUES ('cccc3333', :h, 'x', 'port', '[]', 'a', 0)"
            ),
            {"h": "0" * 64},
        )
    command.downgrade(alembic_config(settings), BEFORE)
    assert "expires_at" not in {c["name"] for c in inspect(engine).get_columns("api_keys")}
    upgrade_database(settings, EXPIRY)
    with engine.connect() as c:
        assert (
            c.execute(text("SELECT count(*) FROM api_keys WHERE expires_at IS NULL")).scalar() == 0
        )
