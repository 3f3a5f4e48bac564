"""The platform's log filter on records as uvicorn writes them: a token in a WebSocket URL,
a traceback or an `extra=` field is masked before the line is written; lines without one
pass untouched. (The API once had a second scrubber of its own; this is the one.)"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable

from sharpeye.logs import SecretFilter

REDACTED = "***"

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLWJ5dGVz"
KEY = "sk_0123456789ab_Zm9vYmFyYmF6cXV4"


def _written(emit: Callable[[logging.Logger], None]) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s %(color_message)s"))
    handler.addFilter(SecretFilter())
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_websocket_access_lines_lose_their_token() -> None:
    text = _written(
        lambda log: log.warning(
            '%s - "WebSocket %s" [accepted]',
            "127.0.0.1:5000",
            f"/api/alarms/live?department=police&token={JWT}",
            extra={"color_message": f"/api/live?token={KEY}"},
        )
    )
    assert JWT not in text and KEY not in text
    assert f"/api/alarms/live?department=police&token={REDACTED}" in text
    assert f"/api/live?token={REDACTED}" in text


def test_tokens_in_a_traceback_are_masked() -> None:
    def emit(log: logging.Logger) -> None:
        try:
            raise ValueError(f"bad credential {JWT} or {KEY}")
        except ValueError:
            log.exception("failed", extra={"color_message": ""})

    text = _written(emit)
    assert "ValueError: bad credential" in text
    assert JWT not in text and KEY not in text


def test_lines_without_tokens_are_unchanged() -> None:
    line = '127.0.0.1:5000 - "GET /api/cameras?limit=1000 HTTP/1.1" 200'
    text = _written(lambda log: log.warning("%s", line, extra={"color_message": "plain"}))
    assert text == f"{line} plain\n"
