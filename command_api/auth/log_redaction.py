"""Credentials never reach the API's logs.

API clients may still open a WebSocket with `?token=` (the wall no longer does), and
uvicorn logs every request line and WebSocket handshake with its query string. This filter,
installed on the API's log handler (`command_api.server.log_config`), rewrites any record
that carries a token: query parameters named like one, and anything shaped like one of our
JWTs or API keys wherever it appears (a traceback, a message someone formatted by hand).
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
# Attributes every LogRecord has; others came through `extra=` (uvicorn's color_message).
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_PATTERNS = (
    # ?token=..., &access_token=..., refresh_token=... up to the next separator.
    (re.compile(r"(?i)\b((?:access_|refresh_)?token=)[^&\s\"'#]+"), rf"\1{REDACTED}"),
    # A JWT (header.payload.signature, base64url; ours start with {"alg" -> eyJ).
    (re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*"), REDACTED),
    # An API key, sk_<prefix>_<secret>.
    (re.compile(r"\bsk_[0-9a-f]{6,}_[\w-]+"), REDACTED),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactTokens(logging.Filter):
    """Rewrites a record's message (and traceback) with its tokens masked; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact(value))
        return True
