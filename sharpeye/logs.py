"""Logging for every Sharpeye process: one root handler, JSON lines for log shippers (text on
a terminal), chatty libraries held at WARNING, and secrets scrubbed before anything is written.

A 24-hour shift's logs at INFO must hold what an operator needs: library chatter (Alembic's
plugin lines at every start, aioice's line per ICE pair, httpx's line per webhook, uvicorn's
per request) buries it. `SHARPEYE_LOG_LEVELS=aioice=info,uvicorn.access=info` turns one back
on while debugging.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Sequence
from typing import Any

# Loggers whose INFO is per-connection, per-request or per-start boilerplate.
QUIET_LOGGERS: dict[str, int] = {
    "alembic.runtime.plugins": logging.WARNING,
    "aioice": logging.WARNING,
    "aiortc": logging.WARNING,
    "zeep": logging.WARNING,
    "httpx": logging.WARNING,
    "apprise": logging.WARNING,
    "uvicorn.access": logging.WARNING,
    "wsdiscovery": logging.WARNING,
}
# Alembic's migration logger says which revision runs (worth keeping) and, at every start,
# these two lines about the database dialect (not worth keeping).
_ALEMBIC_BOILERPLATE = ("Context impl ", "Will assume ")

# Attributes every LogRecord has; anything else was passed as `extra=` and is worth keeping.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_REDACTED = "***"
_SECRET_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # user:password@ in any URL (rtsp://, redis://, postgresql+psycopg://...): the user stays;
    # greedy up to the host's @, so a password holding an unescaped @ is masked whole.
    (re.compile(r"([a-z][a-z0-9+.-]*://[^/\s:@'\"]*):[^\s/'\"]+@", re.I), rf"\1:{_REDACTED}@"),
    # token=..., password=... in queries, forms and key=value messages.
    (
        re.compile(
            r"\b(token|access_token|refresh_token|api_key|apikey|password|passwd|pwd|secret)"
            r"=[^&\s'\",;]+",
            re.I,
        ),
        rf"\1={_REDACTED}",
    ),
    # Authorization header values, wherever a header dump puts them.
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.I), rf"\1 {_REDACTED}"),
    (
        re.compile(
            r"\b(x-api-key|authorization)(['\"]?\s*[:=]\s*['\"]?)(?!Bearer|Basic)[^'\"\s,}]+",
            re.I,
        ),
        rf"\1\2{_REDACTED}",
    ),
    # A JWT (login and viewer tokens) or an API key (sk_<prefix>_<secret>) anywhere else.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), _REDACTED),
    (re.compile(r"\bsk_[0-9a-f]{6,}_[A-Za-z0-9_-]+"), _REDACTED),
]


def scrub(text: str) -> str:
    """`text` with passwords in URLs, token/password values and Authorization values masked."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class SecretFilter(logging.Filter):
    """On the root handler: the message, exception and stack text of every record, scrubbed.

    A filter rather than trust in each call site: a library logging a URL with its login
    (an RTSP reconnect, a Redis URL in a traceback) is written masked all the same.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let the handler report it as it would
            return True
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, scrub(value))
        return True


class _AlembicBoilerplate(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.name == "alembic.runtime.migration"
            and record.levelno <= logging.INFO
            and str(record.msg).startswith(_ALEMBIC_BOILERPLATE)
        )


class JsonFormatter(logging.Formatter):
    """One JSON object per line: log shippers in the command centre parse it without rules."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                out[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, ensure_ascii=False)


def _level_overrides(spec: str) -> dict[str, int]:
    """`name=level,name=level` (SHARPEYE_LOG_LEVELS); unknown levels are ignored."""
    out: dict[str, int] = {}
    for item in spec.split(","):
        name, _, level = item.strip().partition("=")
        number = logging.getLevelName(level.strip().upper())
        if name and isinstance(number, int):
            out[name.strip()] = number
    return out


def configure_logging(level: str | None = None, filters: Sequence[logging.Filter] = ()) -> None:
    """Plain text on a terminal, JSON otherwise (SHARPEYE_LOG_FORMAT=json|text overrides).

    Every service process (api, ingest, relay, fleet, up) calls this first; libraries'
    loggers then propagate to the one root handler, which scrubs secrets. `filters` are
    a service's own, added to that handler after the platform's.
    """
    fmt = os.environ.get("SHARPEYE_LOG_FORMAT") or ("text" if sys.stderr.isatty() else "json")
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_AlembicBoilerplate())
    handler.addFilter(SecretFilter())
    for extra in filters:
        handler.addFilter(extra)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level or os.environ.get("SHARPEYE_LOG_LEVEL", "INFO"))
    levels = {**QUIET_LOGGERS, **_level_overrides(os.environ.get("SHARPEYE_LOG_LEVELS", ""))}
    for name, number in levels.items():
        logging.getLogger(name).setLevel(number)


class Outage:
    """How a process logs something that keeps failing (a camera down for hours, retried
    every second or two): the first failure at WARNING, then one line every `every_s` with
    the number of tries, the rest at DEBUG, and one line when it works again. A day's log
    then holds each outage in a few lines, not one per try."""

    def __init__(self, logger: logging.Logger, every_s: float = 300.0) -> None:
        self.log = logger
        self.every_s = every_s
        self.tries = 0
        self._since = 0.0
        self._told = 0.0

    @property
    def ongoing(self) -> bool:
        return self.tries > 0

    def failed(self, msg: str, *args: object) -> None:
        now = time.monotonic()
        self.tries += 1
        if self.tries == 1:
            self._since = self._told = now
            self.log.warning(msg, *args)
        elif now - self._told >= self.every_s:
            self._told = now
            self.log.warning(
                msg + " (still failing: %d tries in %.0f s)", *args, self.tries, now - self._since
            )
        else:
            self.log.debug(msg, *args)

    def ended(self, msg: str, *args: object) -> None:
        """After a failure: say it works again (and after how long); nothing otherwise."""
        if self.tries:
            took = time.monotonic() - self._since
            self.log.info(msg + " (after %d tries in %.0f s)", *args, self.tries, took)
        self.tries = 0
