"""FFmpeg's RTSP client (through PyAV), for the cameras our own client (`camera.rtsp`) cannot
read: firmwares that answer a TCP SETUP with 461 and offer RTP over UDP only, and servers whose
answers or SDP our parser rejects. Ingest (`ingest.pyav_reader`, decoding for analytics) and
the relay (`relay.pyav_pull`, passthrough) each run one `camera.ffmpeg_source.FfmpegSource`
(open, access units, counters) on a thread of their own; this module holds what that reader
is built from: when a camera may fall back to FFmpeg, the URL and options FFmpeg opens, the
parameter sets from its extradata, and its messages without their secrets.

The URL handed to FFmpeg carries the credentials (it has no other way to take them), so it
never leaves the readers: FFmpeg's own messages name it, which is why errors are rebuilt
from their `strerror` (`FfmpegText`) and never shown as they are.
"""

from __future__ import annotations

import errno
from urllib.parse import quote, urlsplit, urlunsplit

import av.error

from camera.rtsp.errors import RtspIncompatibleError, redact_url
from camera.spec import StreamSpec, Transport

# A blocking read gives up this often (PyAV's interrupt callback) so the thread can notice a
# stop or a stall; FFmpeg resumes the session on the next read, nothing is lost.
SLICE_S = 0.5
USER_AGENT = "Sharpeye/0.1 (FFmpeg)"
# Probing is short: the SDP's parameter sets give the picture size, and the packets probed
# arrive later as one burst (FFmpeg's 5 s default would delay the first frame and inflate
# the first fps window).
ANALYZE_US = 200_000
UDP_BUFFER = 4 * 1024 * 1024  # a 1080p keyframe is a burst of hundreds of datagrams
_START = (b"\x00\x00\x00\x01", b"\x00\x00\x01")


def ffmpeg_url(spec: StreamSpec) -> str:
    """The URL FFmpeg opens: the registry's credentials inside it (percent-encoded)."""
    if spec.username is None:
        return spec.url  # credentials inline in the URL (ONVIF devices) or none at all
    parts = urlsplit(redact_url(spec.url))
    userinfo = quote(spec.username, safe="") + ":" + quote(spec.password or "", safe="")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


def ffmpeg_options(transport: Transport, stall_s: float) -> dict[str, str]:
    opts = {
        "allowed_media_types": "video",  # no audio: fewer UDP ports, nothing to discard
        # Socket I/O timeout in µs (FFmpeg 5+ calls it `timeout`; `stimeout` is gone and
        # unknown options are silently ignored).
        "timeout": str(int(stall_s * 1_000_000)),
        "analyzeduration": str(ANALYZE_US),
        "user_agent": USER_AGENT,
        "buffer_size": str(UDP_BUFFER),
    }
    if transport == "auto":
        opts["rtsp_flags"] = "prefer_tcp"  # TCP when offered, UDP when refused (461)
    else:
        opts["rtsp_transport"] = transport
    return opts


def parameter_sets(extradata: bytes | None) -> list[bytes]:
    """SPS/PPS(/VPS) from FFmpeg's RTSP extradata (Annex B, from the SDP's sprop-*)."""
    if not extradata or not extradata.startswith(_START):
        return []  # avcC or nothing: the camera repeats them in-band
    # A NAL unit never ends in a zero byte: zeros at either end belong to start codes.
    return [n.strip(b"\x00") for n in extradata.split(b"\x00\x00\x01") if n.strip(b"\x00")]


class FfmpegText:
    """Messages about one FFmpeg pull without its secrets: FFmpeg's exceptions quote the URL
    they were given, password and all, so messages are built from the error's strerror and
    the redacted URL, and any other text is scrubbed. Shared by ingest and the relay."""

    def __init__(self, spec: StreamSpec, label: str) -> None:
        self.spec = spec
        self.label = label  # how the message says which reader it came from
        self.secrets = secret_forms(spec)

    def describe(self, exc: av.error.FFmpegError) -> str:
        spec = self.spec
        if isinstance(exc, av.error.HTTPUnauthorizedError):
            has_login = spec.username is not None or urlsplit(spec.url).username is not None
            what = (
                "the camera refused the credentials (401)"
                if has_login
                else "the camera requires credentials and none are set"
            )
        elif exc.errno == errno.EPROTONOSUPPORT:
            what = f"the camera refuses RTP over {spec.transport} (461 Unsupported Transport)"
        else:
            what = self.scrub(exc.strerror or type(exc).__name__)
        return self.where(what)

    def where(self, what: str) -> str:
        return f"{redact_url(self.spec.url)}: {what} ({self.label})"

    def scrub(self, text: str) -> str:
        """Belt and braces for text that may quote the URL FFmpeg was given."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def secret_forms(spec: StreamSpec) -> list[str]:
    """Every form the secrets take in what FFmpeg was given, longest first (the whole URL is
    replaced before the password inside it)."""
    url = ffmpeg_url(spec)
    parts = urlsplit(url)
    forms = [url]
    for value in (spec.password, parts.password):
        if value:
            forms += [value, quote(value, safe="")]
    return sorted({f for f in forms if len(f) >= 3}, key=len, reverse=True)


def can_fall_back(spec: StreamSpec) -> bool:
    """Whether `auto` may hand this camera to FFmpeg (ingest and the relay alike): not for
    rtsps://, whose certificate FFmpeg's RTSP client would not check the way `tls` asks (no
    verify-off switch here)."""
    return spec.reader == "auto" and not spec.url.lower().startswith("rtsps://")


def unreadable_hint(spec: StreamSpec, exc: BaseException) -> str | None:
    """What to do about a camera our client cannot read (`RtspIncompatibleError`) that was
    not handed to FFmpeg (see `can_fall_back`); None for any other failure."""
    if not isinstance(exc, RtspIncompatibleError):
        return None
    if spec.reader == "native":
        return (
            "the native reader cannot read this camera: "
            "set `ingest: {reader: pyav}` (or auto) in the registry"
        )
    return "no FFmpeg fallback for rtsps:// (it would not check the certificate)"


def explain_unreadable(camera_id: str, spec: StreamSpec, exc: BaseException) -> str:
    """The error, with what to do when the native client cannot read this camera at all."""
    hint = unreadable_hint(spec, exc)
    if hint is None:
        return str(exc)
    text = f"{exc}; {hint}"
    return f"camera {camera_id}: {text}" if spec.reader == "native" else text
