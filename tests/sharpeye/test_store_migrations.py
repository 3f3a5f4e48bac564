"""The sightings table comes from the Alembic chain, on SQLite and PostgreSQL: a fresh
database at head has it as the model says; a database from before it upgrades cleanly, also
one where the analytics workers had already made the table themselves (create_all)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Column,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    text,
)

import sharpeye.store.models  # noqa: F401  (every table on Base.metadata, as Alembic sees it)
from analytics.store import find_by_plate, store_sightings
from sharpeye.contracts.events import Box
from sharpeye.contracts.sightings import Sighting
from sharpeye.settings import Settings
from sharpeye.store.db import Base, alembic_config, create_engine_for, upgrade_database

PRE_SIGHTINGS = "c1a2dd6932ae"  # the command API's schema, before analytics sightings
SIGHTINGS_REVISION = "7c9f73b159a2"  # later revisions follow it; head is the chain's end
COLUMNS = {
    "sighting_id": False,
    "camera_id": False,
    "track_id": False,
    "class_name": False,
    "first_seen": False,
    "last_seen": False,
    "score": False,
    "plate": True,
    "plate_score": True,
    "face_match": True,
    "snapshot_ref": True,
    "has_face": False,
    "payload": False,
}
INDEXES = {
    "ix_sightings_camera_time": ["camera_id", "first_seen"],
    "ix_sightings_face_match": ["face_match"],
    "ix_sightings_plate": ["plate"],
    "ix_sightings_face_time": ["has_face", "first_seen"],
    "ix_sightings_last_seen": ["last_seen"],
}


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


def at_head_past_sightings(engine: Engine) -> bool:
    """At the chain's head, which is the sightings revision or one after it."""
    # The script directory does not depend on the database: any settings will do.
    script = ScriptDirectory.from_config(alembic_config(Settings.model_validate({})))
    current = revision_of(engine)
    passed = {r.revision for r in script.iterate_revisions(current, "base")}
    return current == script.get_current_head() and SIGHTINGS_REVISION in passed


def revision_of(engine: Engine) -> str | None:
    with engine.connect() as c:
        return MigrationContext.configure(c).get_current_revision()


def sighting(camera: str, at: float) -> Sighting:
    box = Box(x1=0.1, y1=0.1, x2=0.2, y2=0.2)
    return Sighting(
        camera_id=camera,
        track_id=1,
        class_name="car",
        first_seen=at,
        last_seen=at + 5,
        score=0.9,
        box=box,
        plate="皖S12345",
    )


def create_legacy_table(engine: Engine) -> None:
    """The table as the analytics workers' create_all made it before the revision existed
    (the model of that time: no has_face, which a later revision adds)."""
    metadata = MetaData()
    table = Table(
        "sightings",
        metadata,
        Column("sighting_id", String(64), primary_key=True),
        Column("camera_id", String(64), nullable=False),
        Column("track_id", Integer, nullable=False),
        Column("class_name", String(64), nullable=False),
        Column("first_seen", Float, nullable=False),
        Column("last_seen", Float, nullable=False),
        Column("score", Float, nullable=False),
        Column("plate", String(16), index=True),
        Column("plate_score", Float),
        Column("face_match", String(64), index=True),
        Column("snapshot_ref", String(512)),
        Column("payload", Text, nullable=False),
    )
    Index("ix_sightings_camera_time", table.c.camera_id, table.c.first_seen)
    metadata.create_all(engine)


def insert_raw(engine: Engine, x: Sighting, sighting_id: str) -> None:
    """A row as any revision of the table takes it (only the columns every one has)."""
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO sightings (sighting_id, camera_id, track_id, class_name, "
                "first_seen, last_seen, score, plate, payload) "
                "VALUES (:id, :cam, 1, :cls, :t0, :t1, 0.9, :plate, :payload)"
            ),
            {
                "id": sighting_id,
                "cam": x.camera_id,
                "cls": x.class_name,
                "t0": x.first_seen,
                "t1": x.last_seen,
                "plate": x.plate,
                "payload": x.model_dump_json(exclude_none=True),
            },
        )


def assert_sightings_table(engine: Engine) -> None:
    inspector = inspect(engine)
    columns = {c["name"]: c["nullable"] for c in inspector.get_columns("sightings")}
    assert columns == COLUMNS
    assert inspector.get_pk_constraint("sightings")["constrained_columns"] == ["sighting_id"]
    indexes = inspector.get_indexes("sightings")
    assert {str(ix["name"]): list(ix["column_names"]) for ix in indexes} == INDEXES


def test_head_has_the_sightings_table_as_the_model_says(settings: Settings, engine: Engine) -> None:
    upgrade_database(settings)
    assert at_head_past_sightings(engine)
    assert_sightings_table(engine)
    # The chain and the models agree on every table (nothing left for autogenerate to add).
    with engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c), Base.metadata)
    assert diff == []
    store_sightings(engine, [sighting("a", 100.0)])
    assert [s.camera_id for s in find_by_plate(engine, "皖S12345", 0.0, 200.0)] == ["a"]


def test_a_pre_sightings_database_upgrades_and_downgrades(
    settings: Settings, engine: Engine
) -> None:
    upgrade_database(settings, PRE_SIGHTINGS)
    assert "sightings" not in inspect(engine).get_table_names()
    assert "alarms" in inspect(engine).get_table_names()
    upgrade_database(settings)
    assert at_head_past_sightings(engine)
    assert_sightings_table(engine)
    upgrade_database(settings)  # at head already: a no-op, as every process start does
    command.downgrade(alembic_config(settings), PRE_SIGHTINGS)
    assert "sightings" not in inspect(engine).get_table_names()
    assert revision_of(engine) == PRE_SIGHTINGS


def test_a_table_made_by_create_all_before_the_migration_is_adopted(
    settings: Settings, engine: Engine
) -> None:
    # What the analytics workers did before the revision existed: create_all(checkfirst).
    upgrade_database(settings, PRE_SIGHTINGS)
    create_legacy_table(engine)
    insert_raw(engine, sighting("kept", 100.0), "kept-1")
    upgrade_database(settings)
    assert at_head_past_sightings(engine)
    assert_sightings_table(engine)
    assert [s.camera_id for s in find_by_plate(engine, "皖S12345", 0.0, 200.0)] == ["kept"]


def test_a_legacy_table_missing_an_index_gets_it(settings: Settings, engine: Engine) -> None:
    upgrade_database(settings, PRE_SIGHTINGS)
    create_legacy_table(engine)
    with engine.begin() as c:
        c.execute(text("DROP INDEX ix_sightings_face_match"))
    upgrade_database(settings)
    assert_sightings_table(engine)


def test_nodes_migrating_at_once_on_postgresql_do_not_collide(
    database_url_postgresql: str, tmp_path: Path
) -> None:
    """The API and ingest nodes each upgrade at startup; on a fresh server they race.
    Separate processes, as in a deployment (Alembic's context is per process, not thread)."""
    url = database_url_postgresql
    env = {**os.environ, "SHARPEYE_DATA_DIR": str(tmp_path), "DATABASE_URL": url}
    code = (
        "from sharpeye.settings import get_settings as g;"
        "from sharpeye.store.db import upgrade_database as u; u(g())"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    eng = create_engine_for(
        Settings.model_validate({"SHARPEYE_DATA_DIR": tmp_path, "DATABASE_URL": url})
    )
    try:
        assert at_head_past_sightings(eng)
        assert_sightings_table(eng)
    finally:
        eng.dispose()


def test_sightings_stored_before_has_face_are_marked_by_their_json(
    settings: Settings, engine: Engine
) -> None:
    command.upgrade(alembic_config(settings), "5d0e8c1f4a27")  # the revision before has_face
    face = sighting("cam-f", 100.0).model_copy(update={"face_embedding": [0.0] * 128})
    insert_raw(engine, sighting("cam-p", 100.0), "p")
    insert_raw(engine, face, "f")
    upgrade_database(settings)
    with engine.connect() as c:
        marked = {
            str(r[0]): bool(r[1])
            for r in c.execute(text("SELECT sighting_id, has_face FROM sightings"))
        }
    assert marked == {"p": False, "f": True}


def test_plated_sightings_stored_before_the_plate_index_are_found_by_a_tolerant_search(
    settings: Settings, engine: Engine
) -> None:
    command.upgrade(alembic_config(settings), "a9d3e5f7b1c4")  # the revision before the index
    misread = sighting("cam-m", 100.0).model_copy(update={"plate": "皖SI2345"})
    insert_raw(engine, sighting("cam-p", 100.0), "p")
    insert_raw(engine, misread, "m")
    insert_raw(engine, sighting("cam-n", 100.0).model_copy(update={"plate": None}), "n")
    upgrade_database(settings)
    found = find_by_plate(engine, "皖S12345", 0.0, 200.0, fuzzy=True)
    assert sorted(s.camera_id for s in found) == ["cam-m", "cam-p"]
    assert [s.camera_id for s in find_by_plate(engine, "皖S12345", 0.0, 200.0)] == ["cam-p"]
