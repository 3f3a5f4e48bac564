"""The audit chain's key: SHARPEYE_AUDIT_KEY, or one generated once into the data dir.

Every API replica of a city writing to one database must use the same key (set the variable,
or share the data dir's `audit_key`). The key lives outside the database on purpose: who can
rewrite the table cannot recompute the MACs. Engines are bound to their key by `use_key`
(the API's lifespan and the `sharpeye audit` commands do); an engine nobody bound (a test's
bare store) gets a random per-process key, with a warning.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import weakref
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from sharpeye.keyfile import create_once

log = logging.getLogger(__name__)

ENV_KEY = "SHARPEYE_AUDIT_KEY"
KEY_FILE = "audit_key"

_bound: weakref.WeakKeyDictionary[Engine, bytes] = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_ephemeral: list[bytes] = []


def load_key(data_dir: Path) -> bytes:
    """The configured key, else the data dir's (created on first use, mode 0600)."""
    configured = os.environ.get(ENV_KEY)
    if configured:
        return configured.encode()
    return create_once(data_dir / KEY_FILE, lambda: secrets.token_urlsafe(48).encode()).strip()


def use_key(engine: Engine, key: bytes) -> None:
    """Chain (and verify) the audit log behind `engine` with `key`."""
    _bound[engine] = key


def key_for(session: Session) -> bytes:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    key = _bound.get(engine)
    if key is not None:
        return key
    configured = os.environ.get(ENV_KEY)
    if configured:
        return configured.encode()
    with _lock:
        if not _ephemeral:
            log.warning("no audit key bound to this store: using a random one for this process")
            _ephemeral.append(secrets.token_bytes(32))
        return _ephemeral[0]
