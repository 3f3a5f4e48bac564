"""The audit chain on SQLite and PostgreSQL: appends and verification (tampering:
tests/sharpeye/test_audit_chain.py, where the database's own refusal is tested too)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy.orm import Session, sessionmaker

from command_api.audit import AuditEntry, append, verify
from sharpeye.store.db import session_scope

pytestmark = pytest.mark.integration


def _fill(store: sessionmaker[Session], n: int) -> None:
    for i in range(n):
        with session_scope(store) as s:
            append(s, AuditEntry("alice", "police", "login", f"t{i}", detail={"i": i}), 100.0 + i)


def test_chain_verifies(store: sessionmaker[Session]) -> None:
    with store() as s:
        assert verify(s).ok and verify(s).records == 0
    _fill(store, 5)
    with store() as s:
        result = verify(s)
    assert result.ok and result.records == 5


def test_rollback_leaves_no_gap(store: sessionmaker[Session]) -> None:
    _fill(store, 2)
    with pytest.raises(RuntimeError), session_scope(store) as s:
        append(s, AuditEntry("bob", "police", "ack"), 1.0)
        raise RuntimeError("request failed")
    _fill(store, 1)
    with store() as s:
        assert verify(s).ok and verify(s).records == 3


def test_concurrent_appends_form_one_chain(store: sessionmaker[Session]) -> None:
    def work(worker: int) -> None:
        for i in range(10):
            with session_scope(store) as s:
                append(s, AuditEntry(f"w{worker}", "police", "search", str(i)), 1.0)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(work, range(4)))
    with store() as s:
        result = verify(s)
    assert result.ok and result.records == 40
