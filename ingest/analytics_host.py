"""Live analytics inside the ingest worker, on the frames it already decodes.

Decode once: the worker that pulls a camera also analyses it (ARCHITECTURE: decode only
what analytics needs, once). The set of analysed cameras follows the registry and this
worker's leases; when it changes, the runner is rebuilt (models load in about a second).
If analytics cannot start (models not provisioned, a bad profile), ingest goes on and the
log says what to do. Events and sightings outlive a Redis outage in a bounded buffer
(`HoldingPublisher`).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import redis

from analytics.publish import Publisher
from analytics.results import FrameResult
from ingest.clips import ClipRecorder
from ingest.engine import IngestEngine
from sharpeye.contracts.events import Event
from sharpeye.contracts.sightings import Sighting
from sharpeye.registry import Camera
from sharpeye.registry.alarm_rules import RuleSpec
from sharpeye.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from analytics.runner import AnalyticsRunner

log = logging.getLogger("sharpeye.ingest.analytics")
_REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, OSError)


class HoldingPublisher(Publisher):
    """A publisher that holds results through a Redis outage instead of losing each batch.

    Held, not dropped: events become alarms, and a fire seen while Redis restarts must still
    reach the duty desk. Bounded: the newest `max_held` results with events or sightings
    (frames with neither are not kept) and as many flushed sightings; an outage that outlasts
    them loses the oldest, counted in the log when Redis is back. Re-sending is harmless
    (event and sighting ids are stable). While Redis is down a send is tried at most every
    `retry_every_s`, so connect timeouts do not stall the analytics consumer on every batch;
    the outage is logged once, without a traceback per batch.
    """

    def __init__(
        self,
        client: redis.Redis,
        engine: Engine | None = None,
        *,
        max_held: int = 2000,
        retry_every_s: float = 1.0,
        fence_of: Callable[[str], int | None] | None = None,
        cameras: Callable[[], Mapping[str, Camera]] | None = None,
        attach: Callable[[Event], Event] | None = None,
    ) -> None:
        super().__init__(client, engine, fence_of, cameras)
        self.attach = attach  # each new event's clip reference (ingest.clips)
        self.held: deque[FrameResult] = deque(maxlen=max_held)
        self.held_extra: deque[Sighting] = deque(maxlen=max_held)
        self.dropped = 0
        self.retry_every_s = retry_every_s
        self._down_since: float | None = None
        self._next_try = 0.0

    def publish(self, results: Sequence[FrameResult], extra: Sequence[Sighting] = ()) -> None:
        for r in results:
            if r.events and self.attach is not None:
                r.events = [self.attach(e) for e in r.events]
            if r.events or r.sightings:
                self.dropped += len(self.held) == self.held.maxlen
                self.held.append(r)
        for s in extra:
            self.dropped += len(self.held_extra) == self.held_extra.maxlen
            self.held_extra.append(s)
        now = time.monotonic()
        if self._down_since is not None and now < self._next_try:
            return
        try:
            super().publish(list(self.held), list(self.held_extra))
        except _REDIS_DOWN as e:
            if self._down_since is None:
                self._down_since = now
                log.warning(
                    "analytics: Redis unreachable (%s: %s); events held (at most %d) until "
                    "it answers",
                    type(e).__name__,
                    e,
                    self.held.maxlen,
                )
            self._next_try = now + self.retry_every_s
            return
        except Exception:
            # Not an outage (the sightings store failed): drop what was held, as a plain
            # Publisher loses its batch, and let the runner log it.
            self.held.clear()
            self.held_extra.clear()
            raise
        self._sent()

    def _sent(self) -> None:
        n = sum(len(r.events) for r in self.held)
        self.held.clear()
        self.held_extra.clear()
        if self._down_since is not None:
            log.warning(
                "analytics: Redis answers again after %.0f s; %d held events published, "
                "%d results dropped over the bound",
                time.monotonic() - self._down_since,
                n,
                self.dropped,
            )
            self._down_since = None
            self.dropped = 0


class AnalyticsHost:
    def __init__(
        self,
        engine: IngestEngine,
        settings: Settings,
        fence_of: Callable[[str], int | None] | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.fence_of = fence_of  # the worker's lease token per camera, stamped on events
        # Every registry camera (set by the worker as the registry changes): cloned-plate
        # checks compare with sightings on cameras other workers read.
        self.all_cameras: Mapping[str, Camera] = {}
        # The registry's alarm rules (set by the worker): each asks for its clip window.
        self.rules: Sequence[RuleSpec] = ()
        self.clips: ClipRecorder | None = None
        if engine.clip_seconds > 0:
            self.clips = ClipRecorder(
                engine.clip,
                settings.data_dir / "evidence",
                rules=lambda: self.rules,
                cameras=lambda: self.all_cameras,
            )
        self.runner: AnalyticsRunner | None = None
        self._current: tuple[Camera, ...] = ()
        self._failed: tuple[Camera, ...] | None = None

    @property
    def camera_ids(self) -> list[str]:
        return [c.id for c in self._current]

    def update(self, cameras: Sequence[Camera]) -> None:
        """Analyse exactly these cameras (those with sampling and already in the engine)."""
        from analytics.config import PROFILES

        in_engine = set(self.engine.camera_ids)
        wanted: list[Camera] = []
        for c in sorted(cameras, key=lambda c: c.id):
            if not c.enabled or c.analytics.sampling.mode == "off" or c.id not in in_engine:
                continue
            if c.analytics.profile not in PROFILES:
                log.error(
                    "camera %s: unknown analytics profile %r (known: %s); not analysed",
                    c.id,
                    c.analytics.profile,
                    ", ".join(sorted(PROFILES)),
                )
                continue
            wanted.append(c)
        key = tuple(wanted)
        if key == self._current or key == self._failed:
            return
        if self.runner is not None and _analysed(key) == _analysed(self._current):
            # Only what analytics never reads changed (a name, a location, a login, a stream
            # URL: ingest reconnects on its own): keep the running pipeline, its loaded models
            # and every camera's tracks, hold timers and fire confirmation, which a rebuild
            # would throw away (a shift's registry edits kept the demo's fire and crowd from
            # ever alarming that way).
            for camera in key:
                self.runner.pipeline.cameras[camera.id].camera = camera
            self._current = key
            return
        self.close()
        if not key:
            return
        try:
            self.runner = self._build(key)
        except Exception as exc:  # models missing, bad config: ingest must go on
            self._failed = key
            log.error(
                "analytics not running on %d cameras: %s (run `sharpeye models pull`, check %s)",
                len(key),
                exc,
                self.settings.data_dir / "analytics.yaml",
            )
            return
        self._current = key
        self._failed = None
        log.info("analytics on %d cameras: %s", len(key), ", ".join(c.id for c in key))

    def _build(self, cameras: tuple[Camera, ...]) -> AnalyticsRunner:
        from analytics.config import load_analytics_config
        from analytics.pipeline import Pipeline
        from analytics.runner import AnalyticsRunner
        from sharpeye.bus.connect import connect_sync
        from sharpeye.store.db import create_engine_for, upgrade_database

        s = self.settings
        config = load_analytics_config(s.data_dir / "analytics.yaml")
        pipeline = Pipeline(list(cameras), config, s.data_dir, node_id=s.node_id)
        # Sightings go to the store: bring it to head first (a no-op when the API already did).
        upgrade_database(s)
        # Unchecked: a camera set changing during a Redis outage must still get analytics
        # (held events are sent when Redis answers); a failed build is not retried.
        publisher = HoldingPublisher(
            connect_sync(s, check=False),
            create_engine_for(s),
            fence_of=self.fence_of,
            cameras=lambda: self.all_cameras,
            attach=self.clips.attach if self.clips is not None and config.evidence else None,
        )
        runner = AnalyticsRunner(self.engine, pipeline, publisher, [c.id for c in cameras])
        runner.start()
        return runner

    def shutdown(self) -> None:
        """Close for good: the runner and the clip writer (clips still waiting are lost)."""
        self.close()
        if self.clips is not None:
            self.clips.stop()

    def close(self) -> None:
        if self.runner is not None:
            self.runner.stop()
            self.runner = None
        self._current = ()


def _analysed(cameras: Sequence[Camera]) -> list[tuple[str, str, list[str]]]:
    """What of each camera the analytics reads (analytics/camera.py, config.features_for):
    its id, its analytics block and its tags. Anything else may change under a running
    pipeline."""
    return [(c.id, c.analytics.model_dump_json(), sorted(c.tags)) for c in cameras]
