"""Append-only, hash-chained audit records.

hash(n) = SHA-256(hash(n-1) ‖ canonical JSON of record n's fields): changing, removing or
reordering any record breaks every hash after it, which `verify` reports with the first
bad sequence number. The chain proves tampering *inside* the table; an administrator who
can rewrite the whole table can also rewrite the chain, so deployments ship `head` (the last
hash) to an external log (syslog, WORM storage) as an anchor.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sharpeye.store.models.audit import GENESIS_HASH, AuditHead, AuditRecord

Outcome = Literal["ok", "denied", "error"]
VERIFY_BATCH = 5000


@dataclass(frozen=True)
class AuditEntry:
    """What happened; the log adds the sequence number and the hashes."""

    actor: str
    department: str
    action: str
    target: str = ""
    outcome: Outcome = "ok"
    detail: dict[str, Any] = field(default_factory=dict)


def record_hash(
    prev_hash: str,
    seq: int,
    at: float,
    actor: str,
    department: str,
    action: str,
    target: str,
    outcome: str,
    detail: dict[str, Any],
) -> str:
    body = json.dumps(
        [seq, repr(at), actor, department, action, target, outcome, detail],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def append(session: Session, entry: AuditEntry, at: float) -> AuditRecord:
    """Append `entry` in the session's transaction (committed or rolled back with it)."""
    # UPDATE first: it takes the write lock (SQLite) / row lock (PostgreSQL) before reading
    # the head, so two appenders can never chain onto the same previous record.
    bumped = session.execute(
        update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1)
    )
    if bumped.rowcount == 0:  # type: ignore[attr-defined]
        raise RuntimeError("audit_head row missing: run the store migrations (upgrade_database)")
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    session.refresh(head)
    detail = json.loads(json.dumps(entry.detail, default=str))
    digest = record_hash(
        head.hash,
        head.seq,
        at,
        entry.actor,
        entry.department,
        entry.action,
        entry.target,
        entry.outcome,
        detail,
    )
    record = AuditRecord(
        seq=head.seq,
        at=at,
        actor=entry.actor,
        department=entry.department,
        action=entry.action,
        target=entry.target,
        outcome=entry.outcome,
        detail=detail,
        prev_hash=head.hash,
        hash=digest,
    )
    session.add(record)
    head.hash = digest
    session.flush()
    return record


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    head_hash: str
    first_bad_seq: int | None = None
    reason: str | None = None


def verify(session: Session) -> VerifyResult:
    """Recompute the chain from the first record; stop at the first mismatch."""
    prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    last_seq = 0
    while True:
        rows = (
            session.execute(
                select(AuditRecord)
                .where(AuditRecord.seq > last_seq)
                .order_by(AuditRecord.seq)
                .limit(VERIFY_BATCH)
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for r in rows:
            problem = _problem(r, prev, expected_seq)
            if problem is not None:
                return VerifyResult(False, count, prev, r.seq, problem)
            prev = r.hash
            expected_seq += 1
            count += 1
            last_seq = r.seq
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq != count or head.hash != prev):
        return VerifyResult(
            False, count, prev, count + 1, "records after the last one were removed"
        )
    return VerifyResult(True, count, prev)


def _problem(r: AuditRecord, prev: str, expected_seq: int) -> str | None:
    if r.seq != expected_seq:
        return f"record {expected_seq} is missing"
    if r.prev_hash != prev:
        return "previous-hash link broken"
    digest = record_hash(
        prev, r.seq, r.at, r.actor, r.department, r.action, r.target, r.outcome, r.detail
    )
    if digest != r.hash:
        return "record contents do not match its hash"
    return None
