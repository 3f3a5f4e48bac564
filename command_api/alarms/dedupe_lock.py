"""One writer at a time per (rule, dedupe key) across API replicas on PostgreSQL.

Without it, two replicas that each read a different event of one incident from the
consumer group both find "no recent alarm" under READ COMMITTED and both insert one: the
operator gets two alarms for one fire. `ingest_events` therefore takes a
transaction-scoped advisory lock per (rule, dedupe key) before it reads the latest alarms;
the second replica waits for the first one's commit, and its next statement (a fresh
READ COMMITTED snapshot; the store sets no stricter isolation, which would keep the
older snapshot) sees that alarm and merges into it. The same lock keeps two
replicas merging into one alarm from both writing `event_count + 1` of the same count.

Why advisory locks rather than the alternatives:
- SELECT ... FOR UPDATE on the latest alarm locks nothing when there is no alarm yet,
  which is exactly the racy case; a separate dedupe-key table to lock would cost an upsert
  per key per batch and a table that grows forever.
- A unique partial index cannot express "within the rule's cooldown", and a retry on
  conflict would replay the whole batch (up to 200 events) per collision.
Advisory locks need no schema, cost one statement per batch whatever its size, and are
released by the commit or rollback (or the connection dying), so a crashed replica
holds nothing.

Deadlocks: a batch locks several keys; two batches locking them in different orders
could wait on each other. Every batch takes its locks in one statement in ascending
order of the lock id (the integer PostgreSQL actually locks, so that two keys sharing a
hash still have one place in the order).

Advisory locks live in the shared lock table (max_locks_per_transaction x connections,
6,400 by default): a batch of 200 events holds a few hundred at most, briefly.

SQLite (one node) takes no lock: `write_scope` already lets one writer in at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.orm import Session

# Mixed into the hash so these ids stay apart from the project's other advisory locks
# (delivery leader, migrations), which are small constants in the same bigint space.
_NAMESPACE = b"sharpeye:alarm-dedupe\x00"

# PostgreSQL evaluates output expressions not named in ORDER BY after the sort (SELECT
# reference, "SELECT List"), so the locks are taken in this order; the array is also
# sent sorted.
_LOCK_IN_ORDER = text(
    "SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:ids AS bigint[])) AS k ORDER BY k"
)


def lock_id(rule_id: str, dedupe_key: str) -> int:
    """A stable signed 64-bit id (hashtext's 32 bits would collide in a large district;
    a collision only makes two keys take turns, it never merges their alarms)."""
    digest = hashlib.blake2b(
        _NAMESPACE + rule_id.encode() + b"\x00" + dedupe_key.encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_ids(keys: Iterable[tuple[str, str]]) -> list[int]:
    """The distinct lock ids of these (rule id, dedupe key) pairs, in locking order."""
    return sorted({lock_id(rule_id, key) for rule_id, key in keys})


def lock_dedupe_keys(session: Session, keys: Iterable[tuple[str, str]]) -> None:
    """Wait for, then hold until the transaction ends, each (rule id, dedupe key)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    ids = lock_ids(keys)
    if ids:
        session.execute(_LOCK_IN_ORDER, {"ids": ids})
