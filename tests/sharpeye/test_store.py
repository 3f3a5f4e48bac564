"""The store on SQLite and PostgreSQL (SHARPEYE_TEST_POSTGRES_URL, else the session's server)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, ForeignKey, String, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from sharpeye.settings import Settings
from sharpeye.store.db import (
    NAMING_CONVENTION,
    StoreConfigError,
    create_engine_for,
    session_factory,
    session_scope,
    upgrade_database,
)

POSTGRES_URL = os.environ.get("SHARPEYE_TEST_POSTGRES_URL")


class _TestBase(DeclarativeBase):
    """Tables of this test only, so the app's Base stays free of test models."""


_TestBase.metadata.naming_convention = NAMING_CONVENTION


class Site(_TestBase):
    __tablename__ = "store_test_site"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class Note(_TestBase):
    __tablename__ = "store_test_note"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("store_test_site.id"))
    body: Mapped[str] = mapped_column(String(200))


def _params() -> list[object]:
    # PostgreSQL: SHARPEYE_TEST_POSTGRES_URL, else the session's own server
    # (tests/fixtures_postgres.py, skipped with the reason where no binaries are installed).
    return ["sqlite", "postgresql"]


@pytest.fixture(params=_params())
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        settings = Settings.model_validate(
            {"SHARPEYE_DATA_DIR": tmp_path / "data", "DATABASE_URL": None}
        )
    else:
        url = POSTGRES_URL or request.getfixturevalue("database_url_postgresql")
        settings = Settings.model_validate({"SHARPEYE_DATA_DIR": tmp_path, "DATABASE_URL": url})
    eng = create_engine_for(settings)
    _TestBase.metadata.drop_all(eng)
    _TestBase.metadata.create_all(eng)
    try:
        yield eng
    finally:
        _TestBase.metadata.drop_all(eng)
        eng.dispose()


def test_create_insert_select(engine: Engine) -> None:
    factory = session_factory(engine)
    with session_scope(factory) as s:
        site = Site(name="Demo District")
        s.add(site)
        s.flush()
        s.add_all([Note(site_id=site.id, body="a"), Note(site_id=site.id, body="b")])
    with factory() as s:
        bodies = s.scalars(select(Note.body).order_by(Note.body)).all()
    assert bodies == ["a", "b"]


def test_foreign_keys_enforced(engine: Engine) -> None:
    factory = session_factory(engine)
    with pytest.raises(IntegrityError), session_scope(factory) as s:
        s.add(Note(site_id=12345, body="orphan"))
    # The failed unit of work left nothing behind.
    with factory() as s:
        assert s.scalars(select(Note)).all() == []


def test_sqlite_defaults_to_wal_under_data_dir(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"SHARPEYE_DATA_DIR": tmp_path / "nested" / "data", "DATABASE_URL": None}
    )
    eng = create_engine_for(settings)
    try:
        with eng.connect() as c:
            assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert (tmp_path / "nested" / "data" / "sharpeye.db").exists()
    finally:
        eng.dispose()


def test_missing_driver_is_a_clear_error(tmp_path: Path) -> None:
    if importlib.util.find_spec("psycopg") is not None:
        pytest.skip("psycopg is installed: no missing-driver error to show")
    settings = Settings.model_validate(
        {"SHARPEYE_DATA_DIR": tmp_path, "DATABASE_URL": "postgresql+psycopg://u:secret@db/sharpeye"}
    )
    with pytest.raises(StoreConfigError, match="psycopg") as e:
        create_engine_for(settings)
    assert "secret" not in str(e.value)


def test_bad_url_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreConfigError, match="DATABASE_URL"):
        create_engine_for(
            Settings.model_validate({"SHARPEYE_DATA_DIR": tmp_path, "DATABASE_URL": "not a url"})
        )


def test_migrations_run_on_an_empty_database(tmp_path: Path) -> None:
    settings = Settings.model_validate({"SHARPEYE_DATA_DIR": tmp_path, "DATABASE_URL": None})
    upgrade_database(settings)
    eng = create_engine_for(settings)
    try:
        with eng.connect() as c:
            assert "alembic_version" in inspect(c).get_table_names()
    finally:
        eng.dispose()
