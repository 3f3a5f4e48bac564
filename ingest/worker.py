"""`sharpeye ingest`: one worker process pulling the registry's cameras, publishing health.

Refuses to start on an invalid registry; afterwards a valid edit is applied live and an
invalid one is logged and ignored (the cameras keep running on the last good registry).

A Redis outage does not stop the worker: the cameras keep being read, the outage is logged
once (and its end), health that cannot be published is dropped (each report is a snapshot
that the next one replaces, and readers already turn a silent camera offline by staleness;
only state changes are kept, to be announced once Redis is back), and leases follow
`Leases.lapse` until Redis answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time

import redis
from sqlalchemy import Engine

from camera.gb28181.signalling import RedisSignalling
from ingest.analytics_host import AnalyticsHost
from ingest.engine import IngestEngine
from ingest.fleet import Fleet
from ingest.leases import Leases
from ingest.recorder import Recorder
from ingest.recording_events import RecordingEvents
from ingest.recording_index import RecordingIndex
from sharpeye import memtrim
from sharpeye.bus.connect import connect, connect_sync
from sharpeye.bus.health import publish_health, remove_health
from sharpeye.contracts.health import CameraHealth, CameraState
from sharpeye.logs import configure_logging
from sharpeye.registry import Registry, RegistryError, load_registry
from sharpeye.registry.watch import RegistryDiff, RegistryWatcher
from sharpeye.settings import Settings

log = logging.getLogger("sharpeye.ingest")
PUBLISH_EVERY_S = 1.0
# What an unreachable Redis raises (redis-py's BusyLoadingError, a restarted Redis still
# loading its file, is a ConnectionError); anything else is a bug and must stay loud.
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, OSError)
# A cap on one tick's Redis calls (asyncio's TimeoutError is an OSError): unreachable rather
# than refused, redis-py's connect timeouts and retries could hold a tick longer than the
# lease TTL, and `Leases.lapse` must run before our leases can expire elsewhere.
REDIS_TICK_TIMEOUT_S = 3.0


class RedisOutage:
    """Logs an outage once when it starts and once when it ends, not a traceback per tick."""

    def __init__(self) -> None:
        self.since: float | None = None

    def failed(self, what: str, exc: BaseException) -> None:
        if self.since is None:
            self.since = time.monotonic()
            log.warning(
                "ingest: Redis unreachable, %s failed (%s: %s); cameras keep running, "
                "health is not published until Redis answers",
                what,
                type(exc).__name__,
                exc,
            )

    def ended(self) -> None:
        if self.since is not None:
            log.warning(
                "ingest: Redis answers again after %.0f s; leases and health resumed",
                time.monotonic() - self.since,
            )
            self.since = None


def run_worker(settings: Settings) -> None:
    configure_logging()
    try:
        registry = load_registry(settings.registry)
    except RegistryError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"ingest: refusing to start, {settings.registry} is invalid", file=sys.stderr)
        raise SystemExit(2) from exc
    memtrim.start()  # decode and reader threads' freed memory back to the system
    asyncio.run(run(settings, registry))


async def run(settings: Settings, registry: Registry, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    r = await connect(settings)
    recording_events = RecordingEvents(settings.node_id)  # a failing disk, to the API
    recorder = _recorder(settings, recording_events)
    recorder.start()
    gb_redis = connect_sync(settings, check=False)  # blocking, for GB reader threads
    engine = IngestEngine(
        node_id=settings.node_id,
        # Clips only where analytics runs (events come from there).
        clip_seconds=settings.clip_buffer_s if settings.analytics else 0.0,
        clip_max_bytes=int(settings.clip_buffer_mb * 1_000_000),
        recorder=recorder,
        # gb28181:// cameras ask `sharpeye gb28181` to INVITE them here, over Redis.
        gb_signalling=RedisSignalling(gb_redis, settings.node_id),
        gb_media_host=settings.gb28181_media_host,
    )
    engine.start()
    fleet = Fleet(engine, settings.node_id, settings.secrets_file)
    leases = Leases(r, settings.node_id, ttl_s=settings.lease_ttl_s)
    host = AnalyticsHost(engine, settings, fence_of=leases.token) if settings.analytics else None
    outage = RedisOutage()
    try:
        held = await leases.sync(c.id for c in registry.cameras)
    except REDIS_DOWN as e:  # the next ticks retry
        outage.failed("lease acquisition", e)
        held = set()
    fleet.apply(registry, only=held)
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
    states: dict[str, CameraState] = {}  # as last announced on the bus
    fencing = FencedOut()
    deleted: set[str] = set()  # removed from the registry, health not yet forgotten
    try:
        while not stop.is_set():
            while not updates.empty():
                new = updates.get_nowait()
                deleted |= {c.id for c in registry.cameras} - {c.id for c in new.cameras}
                registry = new
            reached = True
            try:
                async with asyncio.timeout(REDIS_TICK_TIMEOUT_S):
                    if deleted:
                        await remove_health(r, deleted)
                        deleted.clear()
                    held = await leases.sync(c.id for c in registry.cameras)
            except REDIS_DOWN as e:
                outage.failed("lease renewal", e)
                held = leases.lapse()
                reached = False
            _, dropped = fleet.apply(registry, only=held)
            for cid in dropped:
                states.pop(cid, None)
            if host is not None:
                by_id = registry.cameras_by_id
                host.all_cameras = by_id
                host.rules = registry.alarm_rules
                ours = [by_id[cid] for cid in fleet.camera_ids if cid in by_id]
                await asyncio.to_thread(host.update, ours)
            reports = _fenced(fleet.health(), leases)
            changed = [h for cid, h in reports.items() if states.get(cid) != h.state]
            if reached:  # else this tick's reports are dropped: the next ones replace them
                try:
                    async with asyncio.timeout(REDIS_TICK_TIMEOUT_S):
                        refused = await publish_health(r, list(reports.values()), changed)
                        await recording_events.publish(r, leases.token)
                except REDIS_DOWN as e:
                    outage.failed("health publishing", e)
                else:
                    for h in changed:
                        if h.camera_id not in refused:
                            states[h.camera_id] = h.state
                    fencing.refused(refused, leases)
                    outage.ended()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PUBLISH_EVERY_S)
    finally:
        watcher.stop()
        # Mark our cameras offline at once rather than leaving readers to wait for staleness.
        now = time.time()
        final = [
            h.model_copy(update={"state": CameraState.OFFLINE, "updated_at": now, "fps": 0.0})
            for h in _fenced(fleet.health(), leases).values()
            if h.state != CameraState.DISABLED
        ]
        if host is not None:
            await asyncio.to_thread(host.shutdown)
        fleet.close()
        engine.stop()
        gb_redis.close()
        await asyncio.to_thread(recorder.stop)  # the open segments closed and indexed
        try:
            await publish_health(r, final)
            await recording_events.publish(r, leases.token)  # before our leases go
            await leases.release_all()
        except REDIS_DOWN as e:
            # Readers turn our last reports offline by staleness, leases expire on their own.
            log.warning(
                "ingest: stopping with Redis unreachable (%s); last health not written, "
                "leases left to expire",
                e,
            )
        await r.aclose()


def _recorder(settings: Settings, events: RecordingEvents) -> Recorder:
    """The node's recording writer (idle until a camera asks to be recorded); the store is
    opened at its first use, so a worker that records nothing never opens it."""

    def connect() -> Engine:
        from sharpeye.store.db import create_engine_for, upgrade_database

        upgrade_database(settings)
        return create_engine_for(settings)

    budget = settings.recording_budget_gb
    index = RecordingIndex(
        connect, settings.node_id, int(budget * 1e9) if budget is not None else None
    )
    return Recorder(
        settings.data_dir / "evidence",
        index,
        int(settings.recording_queue_mb * 1_000_000),
        on_episode=events.report,
    )


def _fenced(reports: dict[str, CameraHealth], leases: Leases) -> dict[str, CameraHealth]:
    """Each report stamped with the token of our lease on its camera (the health hash refuses
    a report older than the stored one's)."""
    return {
        cid: h if (t := leases.token(cid)) is None else h.model_copy(update={"fence": t})
        for cid, h in reports.items()
    }


class FencedOut:
    """Says once per camera and lease that our reports were refused: a worker with a newer
    lease reports on that camera now (ours lapsed while this one stalled or was cut off).
    The next lease sync drops the camera (its lease is not ours to renew)."""

    def __init__(self) -> None:
        self._said: set[tuple[str, int | None]] = set()

    def refused(self, cameras: set[str], leases: Leases) -> None:
        for cid in sorted(cameras):
            key = (cid, leases.token(cid))
            if key not in self._said:
                self._said.add(key)
                log.warning(
                    "camera %s: health refused, a newer lease than ours (token %s) holds it; "
                    "dropping it at the next lease sync",
                    cid,
                    key[1],
                )
            leases.held.discard(cid)


def _offer(q: asyncio.Queue[Registry], item: Registry) -> None:
    if q.full():
        q.get_nowait()  # only the newest registry matters
    q.put_nowait(item)
