"""The webhook the platform sends a department's system, written down once.

Each POST carries `Idempotency-Key` (the same key for a retried delivery: receivers keep
one) and, when the destination has a secret,
`X-Sharpeye-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<unix>." + body)>`.
A receiver recomputes the MAC and refuses a timestamp outside `SIGNATURE_TOLERANCE_S`, so a
captured delivery cannot be replayed later. The delivery worker signs with `sign`; the demo
duty receiver and any Python receiver check with `verify`.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Sharpeye-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# A signature older (or newer) than this is refused (clocks on a police network drift a
# little; five minutes is the tolerance Stripe and GitHub document for the same scheme).
SIGNATURE_TOLERANCE_S = 300.0


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Sharpeye-Signature` value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    now: float | None = None,
    tolerance_s: float = SIGNATURE_TOLERANCE_S,
) -> bool:
    """Does `header` sign `body` with `secret`, with a timestamp within `tolerance_s` of now?"""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))
