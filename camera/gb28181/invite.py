"""Live video by INVITE (GB/T 28181-2016 §9.2): the SDP we offer, the device's answer, the
SSRC, and the dialog an answered INVITE opens (for its ACK and BYE).

The offer names where we receive: `s=Play`, `c=` our address, `m=video <port> RTP/AVP 96`
(UDP) or `TCP/RTP/AVP` with `a=setup:passive` and `a=connection:new` (we listen, the device
connects and frames RTP as RFC 4571: a 2-byte length before each packet), `a=rtpmap:96
PS/90000`, `a=recvonly`, and `y=<SSRC>`: ten digits, the first 0 for live video, the next
five the 4th-8th digits of our domain, the last four a sequence, which the device must send
its RTP with. The answer is read strictly but only for what we use: where the device sends
from (`c=`, `m=` port and transport), its payload type for PS and its `y=` (a device that
answers another SSRC is followed: the answer is what it will send).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Literal

MediaTransport = Literal["udp", "tcp"]
MAX_SDP_BYTES = 8192
_PS_RTPMAP = re.compile(r"^(\d{1,3}) PS/90000$", re.IGNORECASE)


class SdpError(ValueError):
    """The device's answer cannot be used; the message says why."""


@dataclass(frozen=True)
class MediaOffer:
    """Where we receive one channel's video."""

    transport: MediaTransport
    host: str
    port: int


@dataclass(frozen=True)
class MediaAnswer:
    host: str
    port: int
    transport: MediaTransport
    payload_type: int
    ssrc: int | None  # from the answer's y=, else the one we offered
    setup: str | None  # TCP: active (the device connects), as we asked


def make_ssrc(domain: str, sequence: int, *, live: bool = True) -> str:
    """The `y=` value: '0' (live) or '1' (playback), domain digits 4-8, 4-digit sequence."""
    if not (len(domain) == 10 and domain.isdigit()):
        raise ValueError(f"domain {domain!r} is not 10 digits")
    return f"{0 if live else 1}{domain[3:8]}{sequence % 10_000:04d}"


def offer_sdp(platform_id: str, channel_id: str, offer: MediaOffer, ssrc: str) -> bytes:
    proto = "TCP/RTP/AVP" if offer.transport == "tcp" else "RTP/AVP"
    lines = [
        "v=0",
        f"o={channel_id} 0 0 IN IP4 {offer.host}",
        "s=Play",
        f"c=IN IP4 {offer.host}",
        "t=0 0",
        f"m=video {offer.port} {proto} 96",
        "a=recvonly",
        "a=rtpmap:96 PS/90000",
    ]
    if offer.transport == "tcp":
        lines += ["a=setup:passive", "a=connection:new"]
    lines.append(f"y={ssrc}")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def parse_answer(body: bytes, offered_ssrc: str) -> MediaAnswer:
    """The device's SDP answer; SdpError naming the line that cannot be used."""
    if not body:
        raise SdpError("the 200 carries no SDP")
    if len(body) > MAX_SDP_BYTES:
        raise SdpError(f"SDP of {len(body)} bytes exceeds {MAX_SDP_BYTES}")
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise SdpError("SDP is not ASCII") from None
    session_host: str | None = None
    media: _Media | None = None
    ssrc: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if len(line) < 2 or line[1] != "=":
            raise SdpError(f"malformed SDP line {line[:40]!r}")
        kind, value = line[0], line[2:]
        if kind == "m":
            if media is not None and media.video:
                break  # the video section is read; others (audio) do not concern us
            media = _media(value)
        elif kind == "c":
            host = _connection(value)
            if media is None:
                session_host = host
            else:
                media.host = host
        elif kind == "a" and media is not None:
            name, _, rest = value.partition(":")
            if name == "rtpmap" and (m := _PS_RTPMAP.match(rest.strip())):
                media.ps_types.append(int(m.group(1)))
            elif name == "setup":
                media.setup = rest.strip().lower()
        elif kind == "y":
            ssrc = value.strip()
    if media is None or not media.video:
        raise SdpError("no m=video line")
    where = media.host or session_host
    if where is None:
        raise SdpError("no c= address")
    pts = [pt for pt in media.payload_types if pt in media.ps_types]
    if not pts:
        raise SdpError("m=video offers no PS/90000 payload type")
    chosen = ssrc if ssrc is not None else offered_ssrc
    if not (chosen.isdigit() and len(chosen) <= 10 and int(chosen) < 2**32):
        raise SdpError(f"bad y= SSRC {chosen[:20]!r}")
    return MediaAnswer(where, media.port, media.transport, pts[0], int(chosen), media.setup)


@dataclass
class _Media:
    video: bool
    port: int
    transport: MediaTransport
    payload_types: list[int]
    host: str | None = None
    setup: str | None = None
    ps_types: list[int] = field(default_factory=list)


def _media(value: str) -> _Media:
    parts = value.split()
    if len(parts) < 4:
        raise SdpError(f"malformed m= line {value[:40]!r}")
    kind, port, proto = parts[0], parts[1], parts[2].upper()
    if not (port.isdigit() and 0 < int(port) < 65536):
        raise SdpError(f"bad m= port {port[:8]!r}")
    if proto not in ("RTP/AVP", "TCP/RTP/AVP", "RTP/AVP/TCP"):
        raise SdpError(f"m= transport {proto[:20]!r} is not RTP/AVP over UDP or TCP")
    try:
        types = [int(p) for p in parts[3:] if int(p) < 128]
    except ValueError:
        raise SdpError(f"bad m= payload types {value[:40]!r}") from None
    transport: MediaTransport = "udp" if proto == "RTP/AVP" else "tcp"
    return _Media(kind == "video", int(port), transport, types)


def _connection(value: str) -> str:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] != "IP4":
        raise SdpError(f"c= line {value[:40]!r} is not IN IP4")
    host = parts[2].split("/")[0]
    octets = host.split(".")
    if len(octets) != 4 or not all(o.isdigit() and int(o) < 256 for o in octets):
        raise SdpError(f"bad c= address {host[:20]!r}")
    return host


@dataclass
class PlayHandle:
    """An answered INVITE, as the reader holds it: whom it plays, what the device agreed,
    and whether the call has ended (the device's BYE sets `ended`, from the SIP side's
    thread; the reader polls it)."""

    call_id: str
    device_id: str
    channel_id: str
    answer: MediaAnswer
    ended: threading.Event = field(default_factory=threading.Event)
    reason: str | None = None  # why it ended, when the device or the service ended it
