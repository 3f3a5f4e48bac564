"""Fixtures of the command API tests: a migrated store on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from command_api.auth.passwords import use_cheap_hashing_for_tests
from sharpeye.models.provision import pull
from sharpeye.models.samples import pull_samples
from sharpeye.settings import Settings, get_settings
from sharpeye.store.db import create_engine_for, session_factory, upgrade_database


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> None:
    use_cheap_hashing_for_tests()


@pytest.fixture(scope="session")
def face_data_dir() -> Path:
    """The provisioned face models and sample photos (no network once `make models` ran)."""
    data = get_settings().data_dir
    pull(data)
    pull_samples(data)
    return data


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """Sessions on a fresh database migrated to head (Alembic), on each database kind."""
    settings = Settings.model_validate(
        {"SHARPEYE_DATA_DIR": tmp_path, "DATABASE_URL": database_url}
    )
    upgrade_database(settings)
    engine = create_engine_for(settings)
    try:
        yield session_factory(engine)
    finally:
        engine.dispose()
