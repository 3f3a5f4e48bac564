"""Alembic environment: the store's metadata, the engine from Settings (no alembic.ini).

Run through `sharpeye.store.db.upgrade_database` / `make_revision`, which pass the settings.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

import sharpeye.store.models  # noqa: F401  (registers the tables autogenerate compares)
from sharpeye.settings import Settings, get_settings
from sharpeye.store.db import Base, create_engine_for

# Model modules must be imported here as they appear, so autogenerate sees their tables.


def _settings() -> Settings:
    # Given by sharpeye.store.db; the environment's settings when run by the alembic CLI.
    given = context.config.attributes.get("settings")
    return given if isinstance(given, Settings) else get_settings()


settings = _settings()
# Any constant shared by every process of the deployment (PostgreSQL advisory lock key).
_MIGRATION_LOCK = 0x5348_4152  # "SHAR"


def run_offline() -> None:
    """Emit SQL instead of running it (`--sql`), for a DBA to review and apply."""
    context.configure(
        url=settings.effective_database_url,
        target_metadata=Base.metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine_for(settings)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                # SQLite cannot ALTER most constraints: batch mode rebuilds the table instead.
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    # The API and every ingest node migrate at startup: one at a time, so a
                    # second node waits, then finds the schema at head instead of colliding.
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                    )
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
