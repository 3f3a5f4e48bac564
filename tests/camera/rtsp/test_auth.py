import hashlib

from camera.rtsp.auth import Authorizer


def _md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


def test_digest_response_matches_rfc2617() -> None:
    a = Authorizer("operator", "s3cret")
    assert a.accept(['Digest realm="GStreamer RTSP Server", nonce="abc123"', 'Basic realm="x"'])
    header = a.header("DESCRIBE", "rtsp://127.0.0.1/secure/x")
    assert header is not None and header.startswith("Digest ")
    ha1 = _md5("operator:GStreamer RTSP Server:s3cret")
    ha2 = _md5("DESCRIBE:rtsp://127.0.0.1/secure/x")
    assert f'response="{_md5(f"{ha1}:abc123:{ha2}")}"' in header


def test_basic_when_only_basic_offered_and_repr_hides_password() -> None:
    a = Authorizer("operator", "s3cret")
    assert a.accept(['Basic realm="cam"'])
    assert a.header("PLAY", "rtsp://x/") == "Basic b3BlcmF0b3I6czNjcmV0"
    assert "s3cret" not in repr(a)


def test_unknown_scheme_is_refused() -> None:
    assert not Authorizer("u", "p").accept(['Bearer realm="x"'])
