"""Alarm de-duplication with several API replicas consuming at once.

Each "replica" is a thread with its own engine (its own connections, as a separate pod
has) running `ingest_events` in the consumer's transaction (`write_scope`). The first
replica to store its batch holds its transaction open until the other is seen waiting
(on PostgreSQL: an ungranted advisory lock in pg_locks), so the window in which both
would see "no alarm yet" is real, not left to scheduling luck.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from command_api.alarms.dedupe_lock import lock_ids
from command_api.alarms.lifecycle import Change, ingest_events
from command_api.alarms.writes import write_scope
from command_api.auth.seed import seed
from sharpeye.contracts.events import Event
from sharpeye.registry import Registry, load_registry
from sharpeye.store.db import session_factory, session_scope
from sharpeye.store.models import AlarmRow
from tests.command_api.harness import DEMO_REGISTRY, NOON, event

pytestmark = pytest.mark.integration

HANG_GUARD_S = 15.0
postgresql_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def registry(store: sessionmaker[Session]) -> Registry:
    loaded = load_registry(DEMO_REGISTRY)
    with session_scope(store) as s:
        seed(s, loaded, [], NOON)  # the departments that alarm routes refer to
    return loaded


@pytest.fixture
def engines(store: sessionmaker[Session]) -> Iterator[list[Engine]]:
    """One engine per replica, on the store's database."""
    url = store.kw["bind"].url
    made = [create_engine(url) for _ in range(2)]
    try:
        yield made
    finally:
        for engine in made:
            engine.dispose()


def fire(dedupe_key: str, at: float = NOON) -> Event:
    return event("fire", "forest-lookout-1", at=at, score=0.9, dedupe_key=dedupe_key)


@dataclass
class Replica:
    """Stores one batch in one transaction; holds it open until `release` is set."""

    name: str
    sessions: sessionmaker[Session]
    batch: list[Event]
    pid: int | None = None
    changes: list[Change] = field(default_factory=list)
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def run(
        self,
        registry: Registry,
        barrier: threading.Barrier,
        stored: queue.Queue[str],
        release: threading.Event,
    ) -> None:
        try:
            barrier.wait(HANG_GUARD_S)
            with write_scope(self.sessions) as s:
                if s.get_bind().dialect.name == "postgresql":
                    self.pid = s.execute(text("SELECT pg_backend_pid()")).scalar_one()
                self.changes = ingest_events(
                    s, self.batch, registry, registry.alarm_rules, NOON + 1
                )
                stored.put(self.name)
                # Longer than race()'s own guard: race() always releases first.
                assert release.wait(2 * HANG_GUARD_S), "never released"
        except BaseException as e:  # reported by the test, not lost in the thread
            self.error = e


def _waiting_for(monitor: Engine, pid: int | None) -> str | None:
    """The kind of lock that backend waits for ('advisory', 'transactionid', ...), if any."""
    with monitor.connect() as conn:
        kind: str | None = conn.execute(
            text("SELECT min(locktype) FROM pg_locks WHERE pid = :pid AND NOT granted"),
            {"pid": pid},
        ).scalar_one()
        return kind


def race(
    engines: list[Engine], registry: Registry, batches: list[list[Event]]
) -> tuple[Replica, Replica, str | None]:
    """Both replicas start together; the first to store holds its transaction open until
    the other waits on a lock (or, without one, stores too). Returns (first, second,
    the kind of lock the second was seen waiting for: 'advisory' is the dedupe lock;
    'transactionid' would be a row lock, e.g. two merges into one alarm without it)."""
    barrier = threading.Barrier(2)
    stored: queue.Queue[str] = queue.Queue()
    release = threading.Event()
    replicas = {
        name: Replica(name, session_factory(engine), batch)
        for name, engine, batch in zip(("a", "b"), engines, batches, strict=True)
    }
    for r in replicas.values():
        r.thread = threading.Thread(target=r.run, args=(registry, barrier, stored, release))
        r.thread.start()
    waited: str | None = None
    try:
        first = replicas[stored.get(timeout=HANG_GUARD_S)]
        second = replicas["b" if first.name == "a" else "a"]
        postgres = engines[0].dialect.name == "postgresql"
        deadline = time.monotonic() + HANG_GUARD_S
        while time.monotonic() < deadline and stored.empty():
            if postgres and (waited := _waiting_for(engines[0], second.pid)):
                break
            if not postgres and second.thread is not None and second.thread.is_alive():
                # SQLite: the other writer queues on write_scope's lock; give it time to.
                time.sleep(0.2)
                break
            time.sleep(0.01)
    finally:
        release.set()
        for r in replicas.values():
            assert r.thread is not None
            r.thread.join(HANG_GUARD_S)
    for r in replicas.values():
        if r.error is not None:
            raise r.error
    return first, second, waited


def _alarms(engine: Engine) -> list[AlarmRow]:
    with session_factory(engine)() as s:
        return list(s.execute(select(AlarmRow).order_by(AlarmRow.id)).scalars())


def test_same_key_on_two_replicas_raises_one_alarm(
    engines: list[Engine], registry: Registry
) -> None:
    first, second, waited = race(
        engines, registry, [[fire("smoke-ridge")], [fire("smoke-ridge", at=NOON + 0.5)]]
    )
    alarms = _alarms(engines[0])
    assert len(alarms) == 1, [(a.id, a.event_count) for a in alarms]
    assert alarms[0].event_count == 2
    assert [c.change for c in first.changes] == ["created"]
    assert [c.change for c in second.changes] == ["repeated"]
    assert second.changes[0].alarm.id == alarms[0].id
    if engines[0].dialect.name == "postgresql":
        # What serialised them is the dedupe lock, not luck.
        assert waited == "advisory"


def test_merges_on_two_replicas_lose_no_count(engines: list[Engine], registry: Registry) -> None:
    with write_scope(session_factory(engines[0])) as s:
        ingest_events(s, [fire("smoke-ridge")], registry, registry.alarm_rules, NOON)
    first, second, waited = race(
        engines,
        registry,
        [[fire("smoke-ridge", at=NOON + 1)], [fire("smoke-ridge", at=NOON + 2)]],
    )
    alarms = _alarms(engines[0])
    assert len(alarms) == 1
    assert alarms[0].event_count == 3  # not 2: the second read the first one's count
    assert alarms[0].last_event_at == NOON + 2
    assert [c.change for c in first.changes + second.changes] == ["repeated", "repeated"]
    if engines[0].dialect.name == "postgresql":
        assert waited == "advisory"


@postgresql_only
def test_different_keys_do_not_wait_for_each_other(
    engines: list[Engine], registry: Registry
) -> None:
    # The first replica's transaction stays open until the second has stored *and
    # committed*: the second must not queue behind a lock it does not need.
    barrier = threading.Barrier(2)
    stored: queue.Queue[str] = queue.Queue()
    hold, go = threading.Event(), threading.Event()
    a = Replica("a", session_factory(engines[0]), [fire("ridge-east")])
    b = Replica("b", session_factory(engines[1]), [fire("ridge-west")])
    ta = threading.Thread(target=a.run, args=(registry, barrier, stored, hold))
    tb = threading.Thread(target=b.run, args=(registry, barrier, stored, go))
    ta.start()
    tb.start()
    go.set()
    try:
        tb.join(HANG_GUARD_S)
        assert not tb.is_alive(), "the other key waited for the open transaction"
        assert ta.is_alive()  # still holding its transaction (and its lock) open
    finally:
        hold.set()
        ta.join(HANG_GUARD_S)
    for r in (a, b):
        if r.error is not None:
            raise r.error
    alarms = _alarms(engines[0])
    assert sorted(a.dedupe_key for a in alarms) == ["ridge-east", "ridge-west"]
    assert [a.event_count for a in alarms] == [1, 1]


@postgresql_only
def test_batches_with_keys_in_opposite_order_do_not_deadlock(
    engines: list[Engine], registry: Registry
) -> None:
    one = [fire("ridge-east"), fire("ridge-west")]
    other = [fire("ridge-west", at=NOON + 1), fire("ridge-east", at=NOON + 1)]
    _, second, waited = race(engines, registry, [one, other])
    assert waited == "advisory"
    alarms = _alarms(engines[0])
    assert sorted(a.dedupe_key for a in alarms) == ["ridge-east", "ridge-west"]
    assert [a.event_count for a in alarms] == [2, 2]
    assert [c.change for c in second.changes] == ["repeated", "repeated"]


def test_lock_order_is_the_lock_id_order() -> None:
    # Deadlock freedom needs one total order of the ids PostgreSQL actually locks
    # (two different keys may share a hash: sorting the keys' text would not do).
    keys = [("forest-fire", f"k{i}") for i in range(50)]
    ids = lock_ids(keys)
    assert ids == sorted(ids)
    assert ids == lock_ids(list(reversed(keys)))
    assert len(set(ids)) == 50
    assert all(-(2**63) <= i < 2**63 for i in ids)
