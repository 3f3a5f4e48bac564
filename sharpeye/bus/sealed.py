"""Bus messages a wall trusts carry a MAC: an alarm says which departments it is for.

Redis has a password, yet anything holding it (every process of every node, a leaked
`REDIS_URL`) could otherwise publish an alarm routed to any department, and each API's hub
would hand it to that department's walls. So the API seals each alarm message with a key
derived from the platform's shared secret (`sharpeye.tokens.load_key`: the viewer-token
secret every API replica and relay already holds, never an ingest-only setting), and hubs
drop what does not verify. Format: `s1.<hex HMAC-SHA256(key, json)>.<json>`.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from sharpeye.tokens import load_key

PREFIX = "s1."
_LABEL = b"sharpeye bus messages v1"  # a key of its own, not the token-signing key itself


def bus_key(secret: bytes) -> bytes:
    return hmac.new(secret, _LABEL, hashlib.sha256).digest()


def bus_key_for(data_dir: Path) -> bytes:
    """The node's bus key (SHARPEYE_TOKEN_SECRET, else the data directory's key file)."""
    return bus_key(load_key(data_dir))


def seal(key: bytes, text: str) -> str:
    mac = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    return f"{PREFIX}{mac}.{text}"


def unseal(key: bytes, data: str | bytes) -> str | None:
    """The message text if `data` was sealed with `key`, else None."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if not text.startswith(PREFIX):
        return None
    mac, sep, body = text[len(PREFIX) :].partition(".")
    if not sep:
        return None
    expected = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
    return body if hmac.compare_digest(expected, mac) else None
