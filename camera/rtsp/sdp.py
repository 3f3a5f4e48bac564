"""The part of SDP (RFC 8866) an RTSP client needs: the video track, its codec and control."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from urllib.parse import urljoin

from camera.rtsp.errors import RtspIncompatibleError, RtspUnsupportedCodecError

SUPPORTED = {"H264": "h264", "H265": "hevc"}


@dataclass
class VideoTrack:
    codec: str  # PyAV/FFmpeg decoder name: "h264" or "hevc"
    payload_type: int
    clock_rate: int
    control_url: str
    parameter_sets: list[bytes] = field(default_factory=list)  # SPS/PPS(/VPS) from fmtp
    framerate: float | None = None


def _control_url(base: str, control: str | None) -> str:
    if not control or control == "*":
        return base
    if "://" in control:
        return control
    return urljoin(base if base.endswith("/") else base + "/", control)


def parse_video_track(sdp: str, base_url: str) -> VideoTrack:
    """The first video media with a codec we can handle, or a clear error."""
    session_control: str | None = None
    media: list[dict[str, object]] = []
    current: dict[str, object] | None = None
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            kind, _, rest = line[2:].partition(" ")
            fmts = rest.split()[2:]
            current = {"kind": kind, "fmts": fmts, "rtpmap": {}, "fmtp": {}, "control": None}
            media.append(current)
        elif line.startswith("a="):
            attr, _, value = line[2:].partition(":")
            if current is None:
                if attr == "control":
                    session_control = value
                continue
            if attr == "rtpmap":
                pt, _, enc = value.partition(" ")
                current["rtpmap"][pt] = enc  # type: ignore[index]
            elif attr == "fmtp":
                pt, _, params = value.partition(" ")
                current["fmtp"][pt] = params  # type: ignore[index]
            elif attr == "control":
                current["control"] = value
            elif attr == "framerate":
                current["framerate"] = value
    base = _control_url(base_url, session_control)
    seen: list[str] = []
    for m in media:
        if m["kind"] != "video":
            continue
        rtpmap: dict[str, str] = m["rtpmap"]  # type: ignore[assignment]
        fmtp: dict[str, str] = m["fmtp"]  # type: ignore[assignment]
        for pt in m["fmts"]:  # type: ignore[attr-defined]
            enc = rtpmap.get(pt, "")
            name, _, clock = enc.partition("/")
            seen.append(name or f"payload {pt}")
            codec = SUPPORTED.get(name.upper())
            if codec is None:
                continue
            fr = m.get("framerate")
            return VideoTrack(
                codec=codec,
                payload_type=int(pt),
                clock_rate=int(clock.split("/")[0] or 90000),
                control_url=_control_url(base, m["control"]),  # type: ignore[arg-type]
                parameter_sets=_parameter_sets(fmtp.get(pt, "")),
                framerate=float(fr) if isinstance(fr, str) else None,
            )
    if seen:
        raise RtspUnsupportedCodecError(
            f"video codec {', '.join(seen)} not supported (H.264/H.265)"
        )
    raise RtspIncompatibleError("the stream's SDP has no video track")


def _parameter_sets(fmtp: str) -> list[bytes]:
    out: list[bytes] = []
    for item in fmtp.split(";"):
        key, _, value = item.strip().partition("=")
        if key.lower() in ("sprop-parameter-sets", "sprop-vps", "sprop-sps", "sprop-pps"):
            for b64 in value.split(","):
                try:
                    out.append(base64.b64decode(b64 + "=" * (-len(b64) % 4)))
                except ValueError:
                    continue
    return [p for p in out if p]
