"""Every audited field fits its column, whatever the caller sent.

An over-long API-key name or parameter must not overflow a column on PostgreSQL (the action
would then run unrecorded, or a refusal turn into a 500). Too-long values are cut, ending
with a marker, and the full value's SHA-256 is kept in `detail["_truncated"]`, so a record
can still be matched against the original. NUL, which PostgreSQL text refuses, becomes U+FFFD.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

MARKER = "…"
LIMITS = {"actor": 64, "department": 64, "action": 64, "target": 200, "outcome": 16}
DETAIL_STRING_MAX = 1000  # one string inside detail
DETAIL_MAX = 16_000  # detail as JSON; above it only a preview and the digest are kept
TRUNCATED_KEY = "_truncated"


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _clean(value: str) -> str:
    # Lone surrogates (from JSON "\ud800") cannot be encoded for the database either.
    return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - len(MARKER)] + MARKER


def bound_fields(
    fields: dict[str, str], detail: dict[str, Any]
) -> tuple[dict[str, str], dict[str, Any]]:
    """`fields` (column name -> value) and `detail`, each within its limit."""
    digests: dict[str, str] = {}
    out: dict[str, str] = {}
    for name, value in fields.items():
        clean = _clean(value)
        limit = LIMITS[name]
        if len(clean) > limit:
            digests[name] = sha256(value)
        out[name] = cut(clean, limit)
    bounded: dict[str, Any] = _bound_json(json.loads(json.dumps(detail, default=str)), digests, "")
    text = json.dumps(bounded, ensure_ascii=False, sort_keys=True)
    if len(text) > DETAIL_MAX:
        digests["detail"] = sha256(text)
        bounded = {"preview": cut(text, DETAIL_STRING_MAX)}
    if digests:
        bounded[TRUNCATED_KEY] = digests
    return out, bounded


def _bound_json(value: Any, digests: dict[str, str], path: str) -> Any:
    if isinstance(value, str):
        clean = _clean(value)
        if len(clean) > DETAIL_STRING_MAX:
            digests[cut(f"detail{path}", 200)] = sha256(value)
        return cut(clean, DETAIL_STRING_MAX)
    if isinstance(value, dict):
        return {
            cut(_clean(str(k)), 200): _bound_json(v, digests, f"{path}.{k}")
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_bound_json(v, digests, f"{path}[{i}]") for i, v in enumerate(value)]
    return value
