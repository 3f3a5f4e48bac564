"""Stream URL checks and redaction, shared by the schema and by anything that logs a URL.

A stream is an rtsp:// or rtsps:// URL, or `gb28181://<device id>/<channel id>`: a channel
of a GB/T 28181 device registered to this instance (20-digit ids), played by INVITE
through the `sharpeye gb28181` service rather than pulled.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, quote, urlsplit

RTSP_SCHEMES = frozenset({"rtsp", "rtsps"})
GB28181_SCHEME = "gb28181"
_GB28181 = re.compile(r"^gb28181://([0-9]{20})/([0-9]{20})$", re.IGNORECASE)


def _netloc_host(parts: SplitResult) -> str:
    # urlsplit keeps IPv6 brackets out of .hostname; put them back for a usable netloc.
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    # .port raises ValueError for a non-numeric or out-of-range port; callers validate first.
    return f"{host}:{parts.port}" if parts.port is not None else host


def redact_url(url: str) -> str:
    """The URL with any inline password replaced by `***`, safe for logs and error messages."""
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
    except ValueError:
        return "<unparseable URL>"
    if not has_password:
        return url
    user = parts.username or ""
    # Rebuild the netloc by hand: the raw one may hold the password in any percent-encoding.
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def check_rtsp_url(url: str) -> str:
    """Return `url` if it is a usable rtsp:// or rtsps:// URL without a password; else raise.

    Raises ValueError whose message never contains the password.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
        password = parts.password
    except ValueError:
        raise ValueError(f"not a valid URL (bad host or port): {redact_url(url)}") from None
    if parts.scheme.lower() not in RTSP_SCHEMES:
        raise ValueError("must be an rtsp:// or rtsps:// URL")
    if not parts.hostname:
        raise ValueError("URL has no host")
    if port == 0:
        raise ValueError("URL port must be 1..65535")
    if password is not None:
        raise ValueError(
            f"inline password in {redact_url(url)}: move it to `credentials` "
            "(password_env: ENV_VAR or secret: KEY in the secrets file)"
        )
    return url


def with_credentials(url: str, username: str, password: str) -> str:
    """`url` with the credentials inlined, percent-encoded; only for handing to a decoder.

    Never log the result: log `redact_url(result)`.
    """
    parts = urlsplit(url)
    userinfo = f"{quote(username, safe='')}:{quote(password, safe='')}"
    return parts._replace(netloc=f"{userinfo}@{_netloc_host(parts)}").geturl()


def is_gb28181_url(url: str) -> bool:
    return url[: len(GB28181_SCHEME) + 3].lower() == GB28181_SCHEME + "://"


def parse_gb28181_url(url: str) -> tuple[str, str]:
    """(device id, channel id) of a gb28181:// URL; ValueError saying what is wrong."""
    match = _GB28181.match(url)
    if match is None:
        raise ValueError(
            f"{url[:80]!r} is not gb28181://<device id>/<channel id> (two 20-digit ids)"
        )
    return match.group(1), match.group(2)


def check_stream_url(url: str) -> str:
    """`url` if it is a usable RTSP URL (`check_rtsp_url`) or gb28181:// channel; else raise."""
    if is_gb28181_url(url):
        parse_gb28181_url(url)
        return url
    return check_rtsp_url(url)
