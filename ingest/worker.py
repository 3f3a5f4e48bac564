"""`sharpeye ingest`: one worker process pulling the registry's cameras, publishing health.

Refuses to start on an invalid registry; afterwards a valid edit is applied live and an
invalid one is logged and ignored (the cameras keep running on the last good registry).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time

from ingest.analytics_host import AnalyticsHost
from ingest.engine import IngestEngine
from ingest.fleet import Fleet
from ingest.leases import Leases
from sharpeye.bus.connect import connect
from sharpeye.bus.health import publish_health, remove_health
from sharpeye.contracts.health import CameraState
from sharpeye.logs import configure_logging
from sharpeye.registry import Registry, RegistryError, load_registry
from sharpeye.registry.watch import RegistryDiff, RegistryWatcher
from sharpeye.settings import Settings

log = logging.getLogger("sharpeye.ingest")
PUBLISH_EVERY_S = 1.0


def run_worker(settings: Settings) -> None:
    configure_logging()
    try:
        registry = load_registry(settings.registry)
    except RegistryError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"ingest: refusing to start, {settings.registry} is invalid", file=sys.stderr)
        raise SystemExit(2) from exc
    asyncio.run(run(settings, registry))


async def run(settings: Settings, registry: Registry, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    r = await connect(settings)
    engine = IngestEngine(node_id=settings.node_id)
    engine.start()
    fleet = Fleet(engine, settings.node_id, settings.secrets_file)
    leases = Leases(r, settings.node_id)
    host = AnalyticsHost(engine, settings) if settings.analytics else None
    fleet.apply(registry, only=await leases.sync(c.id for c in registry.cameras))
    log.info(
        "ingest: %d of %d cameras from %s (leased to this worker)",
        len(fleet.camera_ids),
        len(registry.cameras),
        settings.registry,
    )
    updates: asyncio.Queue[Registry] = asyncio.Queue(maxsize=1)

    def on_change(new: Registry, diff: RegistryDiff) -> None:
        log.info(
            "registry changed: +%d -%d ~%d cameras",
            len(diff.added),
            len(diff.removed),
            len(diff.changed),
        )
        loop.call_soon_threadsafe(_offer, updates, new)

    def on_error(err: RegistryError) -> None:
        log.error("registry edit ignored (keeping the last good one):\n%s", err)

    watcher = RegistryWatcher(settings.registry, on_change=on_change, on_error=on_error)
    watcher.start()
    states: dict[str, CameraState] = {}
    try:
        while not stop.is_set():
            while not updates.empty():
                new = updates.get_nowait()
                deleted = {c.id for c in registry.cameras} - {c.id for c in new.cameras}
                registry = new
                if deleted:
                    await remove_health(r, deleted)
            held = await leases.sync(c.id for c in registry.cameras)
            _, dropped = fleet.apply(registry, only=held)
            for cid in dropped:
                states.pop(cid, None)
            if host is not None:
                by_id = registry.cameras_by_id
                ours = [by_id[cid] for cid in fleet.camera_ids if cid in by_id]
                await asyncio.to_thread(host.update, ours)
            reports = fleet.health()
            changed = [h for cid, h in reports.items() if states.get(cid) != h.state]
            for h in changed:
                states[h.camera_id] = h.state
            await publish_health(r, list(reports.values()), changed)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PUBLISH_EVERY_S)
    finally:
        watcher.stop()
        # Mark our cameras offline at once rather than leaving readers to wait for staleness.
        now = time.time()
        final = [
            h.model_copy(update={"state": CameraState.OFFLINE, "updated_at": now, "fps": 0.0})
            for h in fleet.health().values()
            if h.state != CameraState.DISABLED
        ]
        if host is not None:
            await asyncio.to_thread(host.close)
        fleet.close()
        engine.stop()
        await publish_health(r, final)
        await leases.release_all()
        await r.aclose()


def _offer(q: asyncio.Queue[Registry], item: Registry) -> None:
    if q.full():
        q.get_nowait()  # only the newest registry matters
    q.put_nowait(item)
