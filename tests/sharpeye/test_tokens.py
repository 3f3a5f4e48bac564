"""Viewer tokens: what is accepted and every way one is refused."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from sharpeye.tokens import MAX_TTL_S, TokenError, TokenSigner, load_key

SIGNER = TokenSigner(b"k" * 32)


def test_round_trip() -> None:
    claims = SIGNER.verify(SIGNER.issue("cam-1", "police"), "cam-1")
    assert (claims.camera_id, claims.department) == ("cam-1", "police")


def test_the_holder_travels_and_is_read_after_expiry() -> None:
    token = SIGNER.issue(
        "cam-1", "police", ttl_s=10, now=1000.0, subject="user:7", session_id="ab12"
    )
    # Expired for a new offer, still readable for the recheck of a view it opened.
    with pytest.raises(TokenError, match="expired"):
        SIGNER.verify(token, "cam-1")
    claims = SIGNER.read(token)
    assert (claims.subject, claims.session_id, claims.expires_at) == ("user:7", "ab12", 1010)
    assert SIGNER.read(SIGNER.issue("cam-1", "police")).subject is None
    with pytest.raises(TokenError, match="signature"):
        TokenSigner(b"x" * 32).read(token)


def test_service_tokens_are_not_viewer_tokens() -> None:
    service = SIGNER.issue_service("relay.recheck")
    SIGNER.verify_service(service, "relay.recheck")
    with pytest.raises(TokenError):
        SIGNER.verify(service, "cam-1")
    with pytest.raises(TokenError, match="not a service token"):
        SIGNER.verify_service(service, "something.else")
    with pytest.raises(TokenError, match="not a service token"):
        SIGNER.verify_service(SIGNER.issue("cam-1", "police"), "relay.recheck")
    with pytest.raises(TokenError, match="expired"):
        SIGNER.verify_service(SIGNER.issue_service("relay.recheck", now=1000.0), "relay.recheck")
    with pytest.raises(TokenError, match="signature"):
        TokenSigner(b"x" * 32).verify_service(service, "relay.recheck")


def _tampered(token: str) -> str:
    """The token with one signature character changed, well inside the signature: the last
    one carries unused bits, so replacing it (or writing "AA" over a signature that ends
    "AA", 1 in 1,000) could leave the bytes the same and the test flaky."""
    i = len(token) - 10
    return token[:i] + ("B" if token[i] != "B" else "C") + token[i + 1 :]


# Tokens are made when each case runs, not at collection: a suite that takes longer than a
# token's lifetime to reach this test must still see "another camera", not "expired".
@pytest.mark.parametrize(
    ("make", "camera", "message"),
    [
        (lambda: SIGNER.issue("cam-1", "police"), "cam-2", "another camera"),
        (lambda: TokenSigner(b"x" * 32).issue("cam-1", "police"), "cam-1", "signature"),
        (lambda: SIGNER.issue("cam-1", "police", ttl_s=10, now=1000.0), "cam-1", "expired"),
        (lambda: "v1.abc", "cam-1", "not a viewer token"),
        (lambda: "v2.a.b", "cam-1", "not a viewer token"),
        (lambda: _tampered(SIGNER.issue("cam-1", "police")), "cam-1", "signature"),
    ],
)
def test_refusals(make: Callable[[], str], camera: str, message: str) -> None:
    with pytest.raises(TokenError, match=message):
        SIGNER.verify(make(), camera)


def test_tampered_payload_is_refused() -> None:
    version, _payload, sig = SIGNER.issue("cam-1", "edu").split(".")
    forged = TokenSigner(b"k" * 32).issue("cam-1", "police").split(".")[1]
    with pytest.raises(TokenError, match="signature"):
        SIGNER.verify(f"{version}.{forged}.{sig}", "cam-1")


def test_lifetime_is_bounded() -> None:
    with pytest.raises(ValueError, match="lifetime"):
        SIGNER.issue("cam-1", "police", ttl_s=MAX_TTL_S + 1)


def test_short_secret_is_rejected() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        TokenSigner(b"short")


def test_key_from_env_or_generated_once(tmp_path: Path) -> None:
    assert load_key(tmp_path, {"SHARPEYE_TOKEN_SECRET": "from-env-0123456789"}) == (
        b"from-env-0123456789"
    )
    first = load_key(tmp_path, {})
    assert load_key(tmp_path, {}) == first  # a second process reads the same key
    mode = stat.S_IMODE(os.stat(tmp_path / "run" / "token.key").st_mode)
    assert mode == 0o600
    assert "kkkk" not in repr(SIGNER)
