"""Digest (RFC 2617, MD5) both ways: our client's answer passes our check, a known answer
from the RFC checks, and nonces go stale, are refused when forged or replayed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camera.gb28181.digest import (
    NonceIssuer,
    authorization,
    challenge,
    expected_response,
    parse_authorization,
    parse_params,
    verify,
)
from camera.gb28181.sip_headers import SipParseError

URI = "sip:34020000002000000001@3402000000"
DEVICE = "34020000001320000001"


def test_rfc_2617_example() -> None:
    # RFC 2617 §3.5 (HTTP, but the arithmetic is the same).
    response = expected_response(
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
        "GET",
        "/dir/index.html",
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop="auth",
        nc="00000001",
        cnonce="0a4f113b",
    )
    assert response == "6629fae49393a05397450978507c4ef1"


@pytest.mark.parametrize("qop", [True, False])
def test_client_answer_passes_the_check(qop: bool) -> None:
    nonces = NonceIssuer()
    nonce = nonces.issue()
    header = authorization(
        DEVICE, "12345678", challenge("3402000000", nonce, qop=qop), "REGISTER", URI
    )
    answer = parse_authorization(header)
    assert (answer.qop == "auth") is qop
    assert verify(answer, "REGISTER", "12345678")
    assert not verify(answer, "REGISTER", "wrong")
    assert not verify(answer, "MESSAGE", "12345678")
    assert nonces.check(answer.nonce, answer.nc) == "ok"


def test_nonces_go_stale_and_cannot_be_forged_or_replayed() -> None:
    now = [1_000_000.0]
    nonces = NonceIssuer(ttl_s=60, clock=lambda: now[0])
    nonce = nonces.issue()
    assert nonces.check(nonce, "00000001") == "ok"
    assert nonces.check(nonce, "00000001") == "replayed"
    assert nonces.check(nonce, "00000002") == "ok"
    assert nonces.check(nonce) == "ok"  # without qop a nonce may be reused while fresh
    now[0] += 61
    assert nonces.check(nonce) == "stale"
    forged = nonce[:-1] + ("0" if nonce[-1] != "0" else "1")
    assert nonces.check(forged) == "invalid"
    assert nonces.check("") == "invalid"
    assert NonceIssuer().check(nonce) == "invalid"  # another process's key


def test_challenge_parses_back() -> None:
    params = parse_params(challenge("3402000000", "n.1.2", stale=True), "WWW-Authenticate")
    assert params == {
        "realm": "3402000000",
        "nonce": "n.1.2",
        "stale": "true",
        "algorithm": "MD5",
        "qop": "auth",
    }


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("Basic dXNlcjpwYXNz", "not Digest"),
        ('Digest username="a", realm="b"', "no nonce"),
        ('Digest username="a" realm="b"', "cannot read"),
        ('Digest username="a", username="b"', "given twice"),
        ('Digest username="a, realm=b', "cannot read"),
        (
            'Digest username="a", realm="b", nonce="c", uri="d", response="e"',
            "32 hex digits",
        ),
        (
            'Digest username="a", realm="b", nonce="c", uri="d", algorithm=SHA-256, '
            'response="0123456789abcdef0123456789abcdef"',
            "not MD5",
        ),
        (
            'Digest username="a", realm="b", nonce="c", uri="d", qop=auth, '
            'response="0123456789abcdef0123456789abcdef"',
            "needs nc and cnonce",
        ),
        ("Digest " + "a=b, " * 2000, "longer than"),
    ],
)
def test_bad_authorization_names_the_header(value: str, words: str) -> None:
    with pytest.raises(SipParseError, match=words) as caught:
        parse_authorization(value)
    assert caught.value.header == "Authorization"


def test_escaped_quotes_in_values() -> None:
    params = parse_params(r'Digest realm="a\"b", nonce="x"', "WWW-Authenticate")
    assert params["realm"] == 'a"b'


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_authorization(value: str) -> None:
    try:
        parse_authorization(value)
    except SipParseError as exc:
        assert exc.header == "Authorization"
