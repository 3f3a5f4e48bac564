"""`sharpeye gb28181`: the SIP service as a process, until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from ingest.gb28181.remote import RemotePlay
from ingest.gb28181.service import Gb28181Service
from sharpeye.bus.connect import RedisUnavailableError, connect
from sharpeye.logs import configure_logging
from sharpeye.registry import RegistryError, load_registry
from sharpeye.registry.gb28181 import Gb28181Config
from sharpeye.settings import Settings

log = logging.getLogger(__name__)


def load_config(settings: Settings) -> Gb28181Config:
    """The registry's gb28181: section; exits 2 saying why when there is none to serve."""
    try:
        registry = load_registry(settings.registry)
    except RegistryError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"gb28181: refusing to start, {settings.registry} is invalid", file=sys.stderr)
        raise SystemExit(2) from exc
    except OSError as exc:
        print(f"gb28181: cannot read {settings.registry}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(2) from exc
    if registry.gb28181 is None:
        print(f"gb28181: {settings.registry} has no gb28181: section", file=sys.stderr)
        raise SystemExit(2)
    return registry.gb28181


def serve(settings: Settings) -> None:
    configure_logging()
    config = load_config(settings)
    try:
        asyncio.run(run(settings, config))
    except RedisUnavailableError as exc:
        print(f"gb28181: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc


async def run(settings: Settings, config: Gb28181Config, stop: asyncio.Event | None = None) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    r = await connect(settings)
    service = Gb28181Service(config, r, secrets_file=settings.secrets_file)
    remote: asyncio.Task[None] | None = None
    try:
        await service.start()
        # Readers of the ingest worker ask for live video over Redis.
        remote = asyncio.create_task(RemotePlay(service.player, r).run())
        log.info(
            "gb28181: platform %s (domain %s) serving %d devices on %s:%d",
            config.platform_id,
            config.domain,
            len(config.devices),
            config.listen.host,
            service.port,
        )
        await stop.wait()
    finally:
        if remote is not None:
            remote.cancel()
        await service.stop()
        await r.aclose()
        log.info("gb28181: stopped")
