"""`sharpeye audit verify` and `sharpeye audit anchor`: the chain checked from the shell."""

from __future__ import annotations

import time

from command_api.audit.anchors import anchor_dir, export_anchor, load_anchors, prune_anchors
from command_api.audit.keys import load_key, use_key
from command_api.audit.log import verify
from sharpeye.settings import Settings
from sharpeye.store.db import create_engine_for, session_factory


def verify_command(settings: Settings) -> int:
    """Walk the chain, check every MAC and anchor; 0 intact, 1 altered (says where)."""
    engine = create_engine_for(settings)
    try:
        use_key(engine, load_key(settings.data_dir))
        anchors = load_anchors(anchor_dir(settings.data_dir))
        with session_factory(engine)() as s:
            result = verify(s, anchors)
    finally:
        engine.dispose()
    if result.ok:
        print(
            f"audit log intact: {result.records} records, {result.anchors} anchors checked, "
            f"head {result.head_hash}"
        )
        return 0
    print(
        f"audit log ALTERED at record {result.first_bad_seq}: {result.reason} "
        f"({result.records} records before it verified)"
    )
    return 1


def anchor_command(settings: Settings) -> int:
    """Export the chain's head as an anchor now."""
    engine = create_engine_for(settings)
    try:
        directory = anchor_dir(settings.data_dir)
        now = time.time()
        anchor = export_anchor(session_factory(engine), directory, now)
        prune_anchors(directory, now)
    finally:
        engine.dispose()
    if anchor is None:
        print("audit log is empty: nothing to anchor")
    else:
        print(f"anchored record {anchor.seq} ({anchor.mac}) in {directory / anchor.source}")
    return 0
