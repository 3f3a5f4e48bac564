"""`python -m analytics.worker`: an ingest engine plus live analytics for the registry's
cameras whose sampling is not `off`, publishing events and sightings.

For one node this runs beside `sharpeye ingest` (or inside it: `AnalyticsRunner` only needs
the engine). It pulls its own streams, so in production the ingest worker should host the
runner instead to decode each camera once.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from analytics.config import load_analytics_config
from analytics.pipeline import Pipeline
from analytics.publish import Publisher
from analytics.runner import AnalyticsRunner
from ingest.engine import IngestEngine
from ingest.fleet import Fleet
from sharpeye.bus.connect import connect_sync
from sharpeye.logs import configure_logging
from sharpeye.registry import RegistryError, load_registry
from sharpeye.settings import Settings, get_settings
from sharpeye.store.db import create_engine_for, upgrade_database

log = logging.getLogger("sharpeye.analytics")


def run_worker(settings: Settings, stop: threading.Event | None = None) -> None:
    configure_logging()
    try:
        registry = load_registry(settings.registry)
    except RegistryError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise SystemExit(2) from exc
    cameras = [c for c in registry.cameras if c.enabled and c.analytics.sampling.mode != "off"]
    config = load_analytics_config(settings.data_dir / "analytics.yaml")
    pipeline = Pipeline(cameras, config, settings.data_dir, node_id=settings.node_id)
    # Sightings go to the store: bring it to head first (a no-op when the API already did).
    upgrade_database(settings)
    publisher = Publisher(connect_sync(settings), create_engine_for(settings))
    engine = IngestEngine(node_id=settings.node_id)
    engine.start()
    fleet = Fleet(engine, settings.node_id, settings.secrets_file)
    fleet.apply(registry, only={c.id for c in cameras})
    runner = AnalyticsRunner(engine, pipeline, publisher, [c.id for c in cameras])
    runner.start()
    log.info("analytics: %d cameras, detector %s", len(cameras), config.detector.type)
    stop = stop or threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    runner.stop()
    fleet.close()
    engine.stop()


if __name__ == "__main__":
    run_worker(get_settings())
