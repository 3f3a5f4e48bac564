"""The relational store: SQLite under the data directory on one node, PostgreSQL at scale.

Models (alarms, users, audit, ...) subclass `Base`; nothing here knows about them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, MetaData, create_engine, event, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from sharpeye.settings import Settings, get_settings

if TYPE_CHECKING:
    # Alembic is only needed to migrate: keep it out of every process that opens the store.
    from alembic.config import Config as AlembicConfig

# Stable constraint names, so later Alembic migrations can drop/alter them on both dialects.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_DRIVER_HINTS = {
    "postgresql": "psycopg (PyPI `psycopg[binary]`), with a URL like postgresql+psycopg://...",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class StoreConfigError(RuntimeError):
    """DATABASE_URL is unusable (bad syntax, driver missing); the message says which."""


def create_engine_for(settings: Settings, **kwargs: Any) -> Engine:
    """An engine for `settings.effective_database_url` (extra kwargs go to create_engine)."""
    url = settings.effective_database_url
    try:
        parsed = make_url(url)
    except Exception as e:  # SQLAlchemy raises ArgumentError, ValueError... for bad syntax
        raise StoreConfigError(f"DATABASE_URL is not a SQLAlchemy URL: {e}") from e
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {}).setdefault("timeout", 30)
    else:
        # Servers close idle connections (and fail over); check before handing one out.
        kwargs.setdefault("pool_pre_ping", True)
    try:
        engine = create_engine(parsed, **kwargs)
    except ModuleNotFoundError as e:
        hint = _DRIVER_HINTS.get(parsed.get_backend_name(), "its DB-API driver")
        raise StoreConfigError(
            f"DATABASE_URL {parsed.render_as_string(hide_password=True)} needs {hint}: {e}"
        ) from e
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL: readers (API) do not block the writer (ingest, alarms) and vice versa.
        cursor.execute("PRAGMA journal_mode=WAL")
        # SQLite ignores foreign keys unless asked, per connection.
        cursor.execute("PRAGMA foreign_keys=ON")
        # In WAL mode NORMAL is durable across application crashes and much faster than FULL.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error."""
    with factory() as session, session.begin():
        yield session


MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(settings: Settings) -> AlembicConfig:
    """Alembic's config for the store, built in code: no alembic.ini to keep in sync."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["settings"] = settings
    return config


def upgrade_database(settings: Settings, revision: str = "head") -> None:
    """Bring the database schema to `revision` (startup of the node, or a deploy step)."""
    from alembic import command

    command.upgrade(alembic_config(settings), revision)


def make_revision(message: str, settings: Settings | None = None) -> None:
    """Autogenerate a migration from the models against the current database (developers)."""
    from alembic import command

    config = alembic_config(settings or get_settings())
    ruff = Path(sys.executable).parent / "ruff"
    if ruff.exists():
        # Generated files must pass `make lint` as they are: drop unused imports, format.
        config.set_section_option("post_write_hooks", "hooks", "fix, format")
        for name, args in (("fix", "check --fix --quiet"), ("format", "format --quiet")):
            config.set_section_option("post_write_hooks", f"{name}.type", "exec")
            config.set_section_option("post_write_hooks", f"{name}.executable", str(ruff))
            config.set_section_option(
                "post_write_hooks", f"{name}.options", f"{args} REVISION_SCRIPT_FILENAME"
            )
    command.revision(config, message, autogenerate=True)
