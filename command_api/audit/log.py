"""Append-only audit records, chained by a keyed MAC.

mac(n) = HMAC-SHA256(key, mac(n-1) ‖ canonical JSON of record n's fields): changing,
removing or reordering any record breaks every MAC after it, which `verify` reports with the
first bad sequence number (the row id). The key is kept outside the database
(command_api.audit.keys), so who can rewrite the table cannot forge the chain; the database
itself refuses UPDATE and DELETE (triggers), and exported anchors (command_api.audit.anchors)
find a tail cut off after the triggers were dropped. Records written before the key existed
(up to `audit_head.keyed_from`) keep their plain SHA-256 chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from command_api.audit.bounds import bound_fields
from command_api.audit.keys import key_for
from sharpeye.store.models.audit import GENESIS_HASH, AuditHead, AuditRecord

Outcome = Literal["ok", "denied", "error"]
VERIFY_BATCH = 5000


@dataclass(frozen=True)
class AuditEntry:
    """What happened; the log adds the sequence number and the MACs."""

    actor: str
    department: str
    action: str
    target: str = ""
    outcome: Outcome = "ok"
    detail: dict[str, Any] = field(default_factory=dict)


def _canonical(
    seq: int,
    at: float,
    actor: str,
    department: str,
    action: str,
    target: str,
    outcome: str,
    detail: dict[str, Any],
) -> str:
    return json.dumps(
        [seq, repr(at), actor, department, action, target, outcome, detail],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )


def record_hash(prev_hash: str, seq: int, at: float, *fields: Any) -> str:
    """The unkeyed SHA-256 link of records written before the key existed."""
    body = _canonical(seq, at, *fields)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def record_mac(key: bytes, prev_mac: str, seq: int, at: float, *fields: Any) -> str:
    body = _canonical(seq, at, *fields)
    return hmac.new(key, (prev_mac + body).encode(), hashlib.sha256).hexdigest()


def append(session: Session, entry: AuditEntry, at: float) -> AuditRecord:
    """Append `entry` in the session's transaction (committed or rolled back with it)."""
    return append_many(session, [(entry, at)])[0]


def append_many(session: Session, entries: Sequence[tuple[AuditEntry, float]]) -> list[AuditRecord]:
    """Append entries in order, taking the chain's lock once (batched read audits)."""
    if not entries:
        return []
    key = key_for(session)
    # UPDATE first: it takes the write lock (SQLite) / row lock (PostgreSQL) before reading
    # the head, so two appenders (threads, processes, API replicas) never chain onto the
    # same previous record; the lock is held until the caller's transaction ends.
    bumped = session.execute(
        update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + len(entries))
    )
    if bumped.rowcount == 0:  # type: ignore[attr-defined]
        raise RuntimeError("audit_head row missing: run the store migrations (upgrade_database)")
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one()
    session.refresh(head)
    seq = head.seq - len(entries)
    prev = head.hash
    records = []
    for entry, at in entries:
        seq += 1
        fields, detail = bound_fields(
            {
                "actor": entry.actor,
                "department": entry.department,
                "action": entry.action,
                "target": entry.target,
                "outcome": entry.outcome,
            },
            entry.detail,
        )
        values = (
            fields["actor"],
            fields["department"],
            fields["action"],
            fields["target"],
            fields["outcome"],
            detail,
        )
        mac = record_mac(key, prev, seq, at, *values)
        record = AuditRecord(seq=seq, at=at, **fields, detail=detail, prev_hash=prev, hash=mac)
        session.add(record)
        records.append(record)
        prev = mac
    head.hash = prev
    session.flush()
    return records


@dataclass(frozen=True)
class Anchor:
    """A chain head exported out of the database: record `seq` had MAC `mac` at `at`."""

    seq: int
    mac: str
    at: float
    keyed_from: int
    source: str = ""


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    head_hash: str
    first_bad_seq: int | None = None
    reason: str | None = None
    anchors: int = 0


def verify(session: Session, anchors: Iterable[Anchor] = ()) -> VerifyResult:
    """Recompute the chain from the first record, checking each anchor on the way; stop at
    the first mismatch and name its sequence number (the row's id)."""
    key = key_for(session)
    by_seq = {a.seq: a for a in anchors}
    head = session.get(AuditHead, 1)
    keyed_from = head.keyed_from if head is not None else 0
    if by_seq:
        # The anchors, not the (writable) head row, say where the keyed chain starts:
        # raising keyed_from would let forged records pass with a plain SHA-256.
        anchored = min(a.keyed_from for a in by_seq.values())
        if anchored != keyed_from:
            bad = min(anchored, keyed_from) + 1
            reason = f"audit_head.keyed_from is {keyed_from}, anchors say {anchored}"
            return VerifyResult(False, 0, GENESIS_HASH, bad, reason, len(by_seq))
    prev = GENESIS_HASH
    count = 0
    while True:
        rows = (
            session.execute(
                select(AuditRecord)
                .where(AuditRecord.seq > count)
                .order_by(AuditRecord.seq)
                .limit(VERIFY_BATCH)
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for r in rows:
            problem = _problem(key, r, prev, count + 1, keyed_from, by_seq.get(r.seq))
            if problem is not None:
                return VerifyResult(False, count, prev, count + 1, problem, len(by_seq))
            prev = r.hash
            count += 1
    beyond = [a for a in by_seq.values() if a.seq > count]
    if beyond:
        last = max(beyond, key=lambda a: a.seq)
        reason = (
            f"records after {count} were removed: anchor {last.source or '?'} "
            f"(exported at {last.at:.0f}) names record {last.seq}"
        )
        return VerifyResult(False, count, prev, count + 1, reason, len(by_seq))
    if head is not None and (head.seq != count or head.hash != prev):
        reason = "records after the last one were removed"
        return VerifyResult(False, count, prev, count + 1, reason, len(by_seq))
    return VerifyResult(True, count, prev, anchors=len(by_seq))


def _problem(
    key: bytes,
    r: AuditRecord,
    prev: str,
    expected_seq: int,
    keyed_from: int,
    anchor: Anchor | None,
) -> str | None:
    if r.seq != expected_seq:
        return f"record {expected_seq} is missing"
    if r.prev_hash != prev:
        return "previous-MAC link broken"
    fields = (r.actor, r.department, r.action, r.target, r.outcome, r.detail)
    if r.seq <= keyed_from:
        expected = record_hash(prev, r.seq, r.at, *fields)
    else:
        expected = record_mac(key, prev, r.seq, r.at, *fields)
    if not hmac.compare_digest(expected, r.hash):
        return "record contents do not match its MAC"
    if anchor is not None and not hmac.compare_digest(anchor.mac, r.hash):
        return f"record differs from anchor {anchor.source or '?'}"
    return None
