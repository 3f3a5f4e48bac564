"""`sharpeye status --cluster`: the ingest workers and their camera leases, from Redis.

What an operator asks when cameras go dark across a city: is every camera read by someone,
by whom, since when, and is any worker carrying more than its share.
"""

from __future__ import annotations

import redis
from rich.console import Group
from rich.table import Table
from rich.text import Text

from sharpeye.bus.health import read_health_sync
from sharpeye.bus.ownership import read_ownership_sync
from sharpeye.contracts.ownership import Ownership
from sharpeye.registry import Registry


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def build_tables(view: Ownership) -> list[Table | Text]:
    workers = Table(box=None, pad_edge=False, title="workers", title_justify="left")
    workers.add_column("worker", overflow="fold")
    for name in ("heartbeat", "cameras", "share"):
        workers.add_column(name, justify="right")
    for w in view.workers:
        workers.add_row(w.node_id, _age(w.heartbeat_age_s), str(w.cameras), f"{w.share:.0%}")
    cameras = Table(box=None, pad_edge=False, title="camera leases", title_justify="left")
    cameras.add_column("camera", overflow="fold")
    cameras.add_column("worker", overflow="fold")
    cameras.add_column("token", justify="right")
    cameras.add_column("lease left", justify="right")
    cameras.add_column("held for", justify="right")
    orphaned = set(view.orphaned)
    for c in view.cameras:
        worker = Text(c.worker or "nobody", style="bold red" if c.worker is None else "")
        if c.camera_id in orphaned:
            worker.append(" (stopped)", style="bold yellow")
        token = str(c.token) if c.token is not None else "-"
        cameras.add_row(c.camera_id, worker, token, _age(c.expires_in_s), _age(c.held_for_s))
    out: list[Table | Text] = [workers, Text(""), cameras]
    if view.unowned:
        out.append(Text("unowned (no worker reads them): " + ", ".join(view.unowned), "red"))
    if view.orphaned:
        names = ", ".join(view.orphaned)
        out.append(Text(f"leased to a stopped worker (taken over when it expires): {names}"))
    return out


def summary(view: Ownership) -> Text:
    leased = sum(1 for c in view.cameras if c.worker is not None)
    return Text(
        f"{len(view.workers)} workers, {leased} of {len(view.cameras)} cameras leased, "
        f"{len(view.unowned)} unowned, {len(view.orphaned)} on a stopped worker"
    )


def render_cluster(client: redis.Redis, registry: Registry | None, width: int = 200) -> Group:
    # Without a usable registry, the cameras that report health are the ones we know of.
    ids = [c.id for c in registry.cameras] if registry else sorted(read_health_sync(client))
    view = read_ownership_sync(client, ids)
    return Group(*build_tables(view), summary(view))
