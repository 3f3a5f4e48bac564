"""Live analytics inside the ingest worker, on the frames it already decodes.

Decode once: the worker that pulls a camera also analyses it (ARCHITECTURE: decode only
what analytics needs, once). The set of analysed cameras follows the registry and this
worker's leases; when it changes, the runner is rebuilt (models load in about a second).
If analytics cannot start (models not provisioned, a bad profile), ingest goes on and the
log says what to do.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ingest.engine import IngestEngine
from sharpeye.registry import Camera
from sharpeye.settings import Settings

if TYPE_CHECKING:
    from analytics.runner import AnalyticsRunner

log = logging.getLogger("sharpeye.ingest.analytics")


class AnalyticsHost:
    def __init__(self, engine: IngestEngine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
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
        from analytics.publish import Publisher
        from analytics.runner import AnalyticsRunner
        from sharpeye.bus.connect import connect_sync
        from sharpeye.store.db import create_engine_for, upgrade_database

        s = self.settings
        config = load_analytics_config(s.data_dir / "analytics.yaml")
        pipeline = Pipeline(list(cameras), config, s.data_dir, node_id=s.node_id)
        # Sightings go to the store: bring it to head first (a no-op when the API already did).
        upgrade_database(s)
        publisher = Publisher(connect_sync(s), create_engine_for(s))
        runner = AnalyticsRunner(self.engine, pipeline, publisher, [c.id for c in cameras])
        runner.start()
        return runner

    def close(self) -> None:
        if self.runner is not None:
            self.runner.stop()
            self.runner = None
        self._current = ()
