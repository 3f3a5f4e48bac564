"""One delivery worker per PostgreSQL store: the advisory lock passes between nodes."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from command_api.delivery.leader import DeliveryLeader

pytestmark = pytest.mark.integration


def test_one_leader_at_a_time_then_takeover(postgres_server: str) -> None:
    first, second = create_engine(postgres_server), create_engine(postgres_server)
    a, b = DeliveryLeader(first), DeliveryLeader(second)
    try:
        assert a.is_leader()
        assert a.is_leader()  # holds it
        assert not b.is_leader()
        a.release()  # the node stops (or its connection dies)
        assert b.is_leader()
        assert not a.is_leader()
    finally:
        a.release()
        b.release()
        first.dispose()
        second.dispose()


def test_sqlite_always_leads(tmp_path: object) -> None:
    engine = create_engine("sqlite://")
    assert DeliveryLeader(engine).is_leader()
    engine.dispose()
