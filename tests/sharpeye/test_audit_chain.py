"""The audit log on SQLite and real PostgreSQL: the database itself refuses UPDATE and
DELETE, the keyed chain finds a row altered behind the triggers at its id, an anchor finds a
cut tail, concurrent appenders keep one chain, over-long fields are bounded, and the
`sharpeye audit` commands report it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from command_api.audit import AuditEntry, append, record_hash, verify
from command_api.audit.anchors import export_anchor, load_anchors
from command_api.audit.bounds import MARKER, TRUNCATED_KEY, sha256
from command_api.audit.cli import anchor_command, verify_command
from command_api.audit.keys import load_key, use_key
from sharpeye.settings import Settings
from sharpeye.store.db import create_engine_for, session_factory, session_scope, upgrade_database
from sharpeye.store.models import AuditRecord

pytestmark = pytest.mark.integration
PRE_APPEND_ONLY = "e3f1a9c7b5d2"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings.model_validate({"SHARPEYE_DATA_DIR": tmp_path, "DATABASE_URL": database_url})


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    upgrade_database(settings)
    engine = create_engine_for(settings)
    use_key(engine, load_key(settings.data_dir))
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def store(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


def _fill(store: sessionmaker[Session], n: int) -> None:
    for i in range(n):
        with session_scope(store) as s:
            append(s, AuditEntry("alice", "police", "login", f"t{i}", detail={"i": i}), 100.0 + i)


def _drop_triggers(engine: Engine) -> None:
    """What an intruder with database access does first."""
    with engine.begin() as c:
        if engine.dialect.name == "postgresql":
            c.execute(text("DROP TRIGGER audit_log_no_change ON audit_log"))
        else:
            c.execute(text("DROP TRIGGER audit_log_no_update"))
            c.execute(text("DROP TRIGGER audit_log_no_delete"))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2",
        "UPDATE audit_log SET detail = '{}'",
        "DELETE FROM audit_log WHERE seq = 3",
        "DELETE FROM audit_log",
    ],
)
def test_database_refuses_changes(
    engine: Engine, store: sessionmaker[Session], statement: str
) -> None:
    _fill(store, 3)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as c:
        c.execute(text(statement))
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as c:
            c.execute(text("TRUNCATE audit_log"))
    with store() as s:
        assert verify(s).ok and verify(s).records == 3


@pytest.mark.parametrize(
    ("statement", "bad_seq", "reason"),
    [
        ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3", 3, "contents"),
        ("UPDATE audit_log SET target = 'elsewhere' WHERE seq = 2", 2, "contents"),
        ("DELETE FROM audit_log WHERE seq = 2", 2, "missing"),
        ("DELETE FROM audit_log WHERE seq = 5", 5, "removed"),
    ],
)
def test_alteration_behind_dropped_triggers_found_at_its_id(
    engine: Engine, store: sessionmaker[Session], statement: str, bad_seq: int, reason: str
) -> None:
    _fill(store, 5)
    _drop_triggers(engine)
    with engine.begin() as c:
        c.execute(text(statement))
    with store() as s:
        result = verify(s)
    assert not result.ok
    assert result.first_bad_seq == bad_seq
    assert reason in (result.reason or "")


def test_forger_without_the_key_is_found(engine: Engine, store: sessionmaker[Session]) -> None:
    """Recomputing the row's link without the key (plain SHA-256, as before) does not pass."""
    _fill(store, 3)
    _drop_triggers(engine)
    with store() as s:
        row = s.get(AuditRecord, 3)
        assert row is not None
        forged = record_hash(
            row.prev_hash, 3, row.at, "mallory", row.department, row.action, row.target,
            row.outcome, row.detail,
        )  # fmt: skip
    with engine.begin() as c:
        c.execute(
            text("UPDATE audit_log SET actor = 'mallory', hash = :h WHERE seq = 3"), {"h": forged}
        )
        c.execute(text("UPDATE audit_head SET hash = :h"), {"h": forged})
    with store() as s:
        result = verify(s)
    assert not result.ok and result.first_bad_seq == 3


def test_cut_tail_found_against_the_last_anchor(
    engine: Engine, store: sessionmaker[Session], tmp_path: Path
) -> None:
    _fill(store, 5)
    anchors = tmp_path / "anchors"
    assert export_anchor(store, anchors, 500.0) is not None
    _drop_triggers(engine)
    with engine.begin() as c:
        # Cut records 4 and 5 and rewind the head: the chain alone still looks whole.
        c.execute(text("DELETE FROM audit_log WHERE seq > 3"))
        c.execute(
            text("UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_log WHERE seq = 3)")
        )
    with store() as s:
        assert verify(s).ok
        result = verify(s, load_anchors(anchors))
    assert not result.ok
    assert result.first_bad_seq == 4
    assert "anchor-000000000005.json" in (result.reason or "")


def test_concurrent_appends_from_two_replicas_form_one_chain(
    settings: Settings, engine: Engine, store: sessionmaker[Session]
) -> None:
    """Two engines stand for two API replicas (same key, same database), two threads each."""
    replica = create_engine_for(settings)
    use_key(replica, load_key(settings.data_dir))
    stores = [store, session_factory(replica)]

    def work(worker: int) -> None:
        for i in range(10):
            with session_scope(stores[worker % 2]) as s:
                append(s, AuditEntry(f"w{worker}", "police", "search", str(i)), 1.0)

    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(work, range(4)))
    finally:
        replica.dispose()
    with store() as s:
        result = verify(s)
    assert result.ok and result.records == 40


def test_over_long_fields_are_bounded_and_recorded(store: sessionmaker[Session]) -> None:
    actor = "key:" + "k" * 500
    target = "camera:" + "x" * 5000
    long_param = "p" * 20_000
    entry = AuditEntry(
        actor, "d" * 300, "ptz.move" + "." * 100, target, "ok", {"q": long_param, "nul": "a\x00b"}
    )
    with session_scope(store) as s:
        append(s, entry, 1.0)
    with store() as s:
        row = s.get(AuditRecord, 1)
        assert row is not None
        assert len(row.actor) == 64 and row.actor.endswith(MARKER)
        assert len(row.target) == 200 and row.target.startswith("camera:xxx")
        digests = row.detail[TRUNCATED_KEY]
        assert digests["actor"] == sha256(actor)
        assert digests["target"] == sha256(target)
        assert digests["detail.q"] == sha256(long_param)
        assert row.detail["nul"] == "a\ufffdb"
        assert verify(s).ok


def test_records_before_the_key_keep_their_sha256_chain(settings: Settings) -> None:
    """A database with records from before this migration upgrades and still verifies."""
    upgrade_database(settings, PRE_APPEND_ONLY)
    engine = create_engine_for(settings)
    try:
        prev = "0" * 64
        with engine.begin() as c:
            for seq in (1, 2):
                fields = ("bob", "police", "login", "", "ok", {"n": seq})
                digest = record_hash(prev, seq, float(seq), *fields)
                c.execute(
                    text(
                        "INSERT INTO audit_log (seq, at, actor, department, action, target,"
                        " outcome, detail, prev_hash, hash) VALUES (:seq, :at, 'bob', 'police',"
                        " 'login', '', 'ok', :detail, :prev, :hash)"
                    ),
                    {"seq": seq, "at": float(seq), "detail": json.dumps({"n": seq}),
                     "prev": prev, "hash": digest},
                )  # fmt: skip
                prev = digest
            c.execute(text("UPDATE audit_head SET seq = 2, hash = :h"), {"h": prev})
        upgrade_database(settings)
        use_key(engine, load_key(settings.data_dir))
        store = session_factory(engine)
        _fill(store, 2)
        with store() as s:
            result = verify(s)
        assert result.ok and result.records == 4
    finally:
        engine.dispose()


def test_cli_verify_and_anchor(
    settings: Settings,
    engine: Engine,
    store: sessionmaker[Session],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _fill(store, 4)
    assert anchor_command(settings) == 0
    assert verify_command(settings) == 0
    assert "intact: 4 records, 1 anchors" in capsys.readouterr().out
    _drop_triggers(engine)
    with engine.begin() as c:
        c.execute(text("UPDATE audit_log SET outcome = 'denied' WHERE seq = 2"))
    assert verify_command(settings) == 1
    assert "ALTERED at record 2" in capsys.readouterr().out
