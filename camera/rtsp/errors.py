"""RTSP session errors; messages never carry credentials (URLs are redacted)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """The URL without userinfo, safe for logs and health reports."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class RtspError(Exception):
    """A camera session failed; the message says what and where, without secrets."""


class RtspAuthError(RtspError):
    """The camera refused our credentials (or needs some and we have none)."""


class RtspPlainBasicError(RtspAuthError):
    """The camera offers only Basic authentication on plain rtsp://: the password would go
    in clear text, so it is not sent unless the camera's registry entry allows it."""

    def __init__(self, url: str) -> None:
        super().__init__(
            f"{url}: the camera offers only Basic authentication, which would send the "
            "password in clear text over plain rtsp://; enable Digest on the camera, use "
            "rtsps://, or set `allow_basic_on_plain_rtsp: true` in its registry credentials"
        )


class RtspProtocolError(RtspError):
    """The peer answered something we cannot use (bad status, no H.264/H.265 track, …)."""


class RtspIncompatibleError(RtspProtocolError):
    """The camera works, but not with this client: it refuses RTP over TCP, or its answer or
    SDP is beyond our parser. FFmpeg's client (`camera.ffmpeg`) may still read it;
    network, auth and not-found errors are never of this kind."""


class RtspTransportRefusedError(RtspIncompatibleError):
    """SETUP answered 461 Unsupported Transport: the camera offers RTP over UDP only."""


class RtspUnsupportedCodecError(RtspIncompatibleError):
    """The stream's codec is neither H.264 nor H.265."""
