"""`sharpeye api`: serve the command API with uvicorn, logging through sharpeye.logs."""

from __future__ import annotations

import sys

import uvicorn

from command_api.app import ApiStartupError, create_app, load_initial_registry
from sharpeye import memtrim
from sharpeye.bus.connect import RedisUnavailableError, connect_sync
from sharpeye.logs import configure_logging
from sharpeye.memtrace import start_if_asked
from sharpeye.settings import Settings


def preflight(settings: Settings) -> None:
    """Check the peers before uvicorn starts, so a missing one is one clear line, no traceback."""
    load_initial_registry(settings.registry)
    connect_sync(settings).close()


def serve(settings: Settings) -> None:
    """Run the API on settings.api_host:api_port until interrupted."""
    configure_logging()
    start_if_asked("api")
    memtrim.start()  # freed memory back to the system: RSS tracks what is used
    try:
        preflight(settings)
    except (ApiStartupError, RedisUnavailableError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    app = create_app(settings)
    print(f"== API on http://{settings.api_host}:{settings.api_port}/ (docs at /docs)", flush=True)
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        # uvicorn's loggers propagate to the root handler configure_logging set up (JSON,
        # secrets scrubbed, access log held at WARNING) instead of handlers of their own.
        log_config=None,
        # Client addresses from X-Forwarded-For only when a reverse proxy on this host sends it.
        forwarded_allow_ips="127.0.0.1",
    )
