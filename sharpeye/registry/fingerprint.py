"""Certificate fingerprints as the registry takes them and TLS clients compare them."""

from __future__ import annotations

import re

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def normalize_fingerprint(value: str) -> str:
    """`AB:CD:...` (as `openssl x509 -fingerprint -sha256` prints it), any case, colons or
    spaces optional -> 64 lower-case hex digits; ValueError otherwise."""
    digits = re.sub(r"[\s:]", "", value).lower()
    if not _HEX64.match(digits):
        raise ValueError(
            "a SHA-256 fingerprint is 32 bytes in hex, e.g. AB:CD:...:EF "
            "(`openssl x509 -noout -fingerprint -sha256 -in camera.crt`)"
        )
    return digits
