"""`sharpeye api`: serve the command API with uvicorn, logging one JSON object per line."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import uvicorn

from command_api.app import ApiStartupError, create_app, load_initial_registry
from sharpeye.bus.connect import RedisUnavailableError, connect_sync
from sharpeye.settings import Settings

# Attributes every LogRecord has; anything else was passed as `extra=` and is worth keeping.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: log shippers in the command centre parse it without rules."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def log_config(level: str = "INFO") -> dict[str, Any]:
    """uvicorn's `log_config`: its loggers and the platform's, all through JsonFormatter."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["default"], "level": level, "propagate": False},
            "command_api": {"handlers": ["default"], "level": level, "propagate": False},
            "sharpeye": {"handlers": ["default"], "level": level, "propagate": False},
        },
    }


def preflight(settings: Settings) -> None:
    """Check the peers before uvicorn starts, so a missing one is one clear line, no traceback."""
    load_initial_registry(settings.registry)
    connect_sync(settings).close()


def serve(settings: Settings) -> None:
    """Run the API on settings.api_host:api_port until interrupted."""
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
        log_config=log_config(),
        # Client addresses from X-Forwarded-For only when a reverse proxy on this host sends it.
        forwarded_allow_ips="127.0.0.1",
    )
