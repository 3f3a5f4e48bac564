"""Anchors: the chain's head (sequence number, MAC, time) exported out of the database.

Someone who drops the triggers can cut the log's tail and rewind `audit_head`; the chain
alone cannot see that, an anchor can. The API writes one every
SHARPEYE_AUDIT_ANCHOR_INTERVAL_S (600 s) when the log grew, `sharpeye audit anchor` and
`POST /api/audit/anchor` write one on command, into SHARPEYE_AUDIT_ANCHOR_DIR (default
`<data dir>/audit_anchors`), one small JSON file each, written atomically. Anchors are kept
SHARPEYE_AUDIT_ANCHOR_KEEP_DAYS (400, never under 183: six months), the newest always;
ship the directory to WORM storage or another host to make them outlive this one.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from command_api.audit.log import Anchor
from sharpeye.store.models.audit import AuditHead

log = logging.getLogger(__name__)

ENV_DIR = "SHARPEYE_AUDIT_ANCHOR_DIR"
ENV_INTERVAL = "SHARPEYE_AUDIT_ANCHOR_INTERVAL_S"
ENV_KEEP_DAYS = "SHARPEYE_AUDIT_ANCHOR_KEEP_DAYS"
MIN_KEEP_DAYS = 183
DEFAULT_KEEP_DAYS = 400
DEFAULT_INTERVAL_S = 600.0


def anchor_dir(data_dir: Path) -> Path:
    configured = os.environ.get(ENV_DIR)
    return Path(configured) if configured else data_dir / "audit_anchors"


def anchor_interval_s() -> float:
    try:
        return max(1.0, float(os.environ.get(ENV_INTERVAL, DEFAULT_INTERVAL_S)))
    except ValueError:
        return DEFAULT_INTERVAL_S


def keep_s() -> float:
    try:
        days = float(os.environ.get(ENV_KEEP_DAYS, DEFAULT_KEEP_DAYS))
    except ValueError:
        days = DEFAULT_KEEP_DAYS
    return max(days, MIN_KEEP_DAYS) * 86_400


def export_anchor(sessions: sessionmaker[Session], directory: Path, now: float) -> Anchor | None:
    """Write the current head as an anchor (None: the log is empty)."""
    with sessions() as s:
        head = s.get(AuditHead, 1)
        if head is None or head.seq == 0:
            return None
        anchor = Anchor(head.seq, head.hash, now, head.keyed_from)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"anchor-{anchor.seq:012d}.json"
    if path.exists():  # this head was anchored already (another replica, an earlier tick)
        return _read(path) or anchor
    body = {"seq": anchor.seq, "mac": anchor.mac, "at": anchor.at, "keyed_from": anchor.keyed_from}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w") as f:
        json.dump(body, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    log.info("audit anchor exported: record %d", anchor.seq)
    return Anchor(anchor.seq, anchor.mac, anchor.at, anchor.keyed_from, path.name)


def load_anchors(directory: Path) -> list[Anchor]:
    if not directory.is_dir():
        return []
    found = (_read(p) for p in sorted(directory.glob("anchor-*.json")))
    return [a for a in found if a is not None]


def prune_anchors(directory: Path, now: float) -> int:
    """Delete anchors older than the retention, never the newest; returns how many."""
    anchors = load_anchors(directory)
    removed = 0
    for a in anchors[:-1]:
        if now - a.at > keep_s():
            (directory / a.source).unlink(missing_ok=True)
            removed += 1
    return removed


def _read(path: Path) -> Anchor | None:
    try:
        body = json.loads(path.read_text())
        return Anchor(
            int(body["seq"]),
            str(body["mac"]),
            float(body["at"]),
            int(body["keyed_from"]),
            path.name,
        )
    except (OSError, ValueError, KeyError, TypeError):
        # An unreadable anchor is reported, not silently trusted or skipped.
        log.error("audit anchor %s is unreadable", path.name)
        return Anchor(-1, "", 0.0, -1, path.name)
