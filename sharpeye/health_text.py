"""What a camera's error text may say to whom: a plain category for everyone, the scrubbed
detail for administrators, and a secret for nobody.

Ingest, the ONVIF client and the relay write errors for the people who fix cameras: they
name the camera's host, port, stream path and query string, the ONVIF user, the secret's
key and the secrets file. Those reach browsers through `/api/cameras`, `/api/live` and the
relay's error bodies, and an operator of one department has no business learning how the
city's cameras are addressed or logged into. So every such text goes through `classify`:

- `category`: one of a few fixed phrases ("unreachable", "login refused", ...) chosen by
  what the text says, never built from it, so no part of the original can leak through;
- `detail`: the text with URL credentials and query strings, secret key names, secrets file
  paths and anything `sharpeye.logs.scrub` masks removed: what an administrator sees.

Texts Sharpeye writes itself without any address (picture diagnosis, staleness, "no frame
for 12 s") are already plain: they are their own category.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sharpeye.logs import scrub

UNREACHABLE = "unreachable"
LOGIN_REFUSED = "login refused"
CREDENTIALS_MISSING = "credentials not configured"
STREAM_NOT_FOUND = "stream not found"
TLS_UNTRUSTED = "TLS certificate not trusted"
TLS_FAILED = "TLS handshake failed"
TRANSPORT_REFUSED = "transport refused by the camera"
UNREADABLE = "stream not readable"
CODEC = "codec not playable in browsers"
ONVIF_FAILED = "ONVIF device error"
DISABLED = "disabled in the registry"
UNKNOWN_CAMERA = "no such camera"
OTHER = "camera error"

# Texts without addresses or names, written by Sharpeye itself: shown as they are. Anchored
# at the start and checked for no URL, host:port or path below, so an error that merely
# begins like one of these is still classified.
_PLAIN = re.compile(
    r"^(picture |no frame for |no health report |stream or decode errors |connecting$|"
    r"not connected$|degraded$|offline$|online$|disabled in the registry$|unknown$|"
    r"no health report yet$)"
)
_ADDRESS = re.compile(r"://|\b\d{1,3}(\.\d{1,3}){3}\b|\[[0-9a-f:]+\]|:\d{2,5}\b|/\w", re.I)

# (pattern, category), first match wins: the login before the transport (a 401 arrives over
# a working connection), TLS before "unreachable" (a failed handshake closes the socket).
_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^no camera with id "), UNKNOWN_CAMERA),
    (re.compile(r"is disabled in the registry$"), DISABLED),
    (
        re.compile(
            r"requires credentials and none are set|without credentials|"
            r"secrets? file|SHARPEYE_SECRETS_FILE|environment variable \S+ \(|no user name for|"
            r"credential reference",
            re.I,
        ),
        CREDENTIALS_MISSING,
    ),
    (
        re.compile(
            r"refused the credentials|\b401\b|unauthori[sz]ed|authentication|not authorized",
            re.I,
        ),
        LOGIN_REFUSED,
    ),
    (
        re.compile(r"certificate verification failed|not the pinned|sent no certificate"),
        TLS_UNTRUSTED,
    ),
    (re.compile(r"TLS handshake failed|not RTSP over TLS|CA file|\bTLS\b", re.I), TLS_FAILED),
    (re.compile(r"\b404\b|not found|no stream URI|no media profile", re.I), STREAM_NOT_FOUND),
    (re.compile(r"\b461\b|unsupported transport|refuses RTP over", re.I), TRANSPORT_REFUSED),
    (re.compile(r"H\.265|hevc|browsers cannot play", re.I), CODEC),
    (
        re.compile(
            r"cannot connect|connection refused|unreachable|no answer within|timed? ?out|"
            r"no route|name or service not known|name resolution|closed the connection|"
            r"connection closed|connection reset|network is",
            re.I,
        ),
        UNREACHABLE,
    ),
    (
        re.compile(
            r"not an RTSP answer|cannot parse|SDP|no video track|answer header|"
            r"native reader cannot read|Session header|answered \d{3}",
            re.I,
        ),
        UNREADABLE,
    ),
    (re.compile(r"ONVIF", re.I), ONVIF_FAILED),
]

# What administrators must not see either: the credentials part of any URL (user name and
# password), its query string (tokens ride there), the secret's key and the secrets file.
_URL_USERINFO = re.compile(r"([a-z][a-z0-9+.-]*://)[^/\s@'\"]*@", re.I)
# The query ends where the URL does: at a space, a quote, or the ": " that starts the error.
_URL_QUERY = re.compile(r"([a-z][a-z0-9+.-]*://[^\s?'\"]*)\?[^\s'\"]*?(?=:\s|:$|[\s'\"]|$)", re.I)
_SECRET_KEY = re.compile(r"\b(secret|key)\s+(['\"])[^'\"]*\2", re.I)
_SECRETS_FILE = re.compile(r"\b(secrets file)\s+(?!is\b|must\b)\S+?(?=[\s:,;]|$)", re.I)


@dataclass(frozen=True)
class HealthText:
    category: str  # for everyone: a fixed phrase
    detail: str  # for administrators: scrubbed


def scrub_detail(text: str) -> str:
    """`text` without secrets, URL credentials, query strings, key names or file paths."""
    # Query strings first: `scrub` would mask a token's value along with the ": " after it.
    text = _URL_QUERY.sub(r"\1", text)
    text = scrub(text)
    text = _URL_USERINFO.sub(r"\1", text)
    text = _SECRET_KEY.sub(r"\1 ***", text)
    return _SECRETS_FILE.sub(r"\1 (SHARPEYE_SECRETS_FILE)", text)


def category(text: str) -> str:
    """The fixed phrase that says what kind of failure `text` describes."""
    if _PLAIN.match(text) and not _ADDRESS.search(text):
        return text
    for pattern, name in _RULES:
        if pattern.search(text):
            return name
    return OTHER


def classify(text: str) -> HealthText:
    return HealthText(category(text), scrub_detail(text))


def for_reader(text: str | None, *, administrator: bool) -> str | None:
    """What one reader may see of `text`: the scrubbed detail for administrators, the
    category for everyone else."""
    if text is None:
        return None
    return scrub_detail(text) if administrator else category(text)


def relay_error(camera_id: str, text: str) -> str:
    """A relay error body (it goes to any browser with a viewer token): category and camera
    id only; the detail stays in the relay's log."""
    return f"camera {camera_id}: {category(text)}"
