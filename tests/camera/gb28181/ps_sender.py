"""A GB/T 28181 device's media side, for tests: real footage as MPEG-PS over RTP.

Test code, written apart from what it tests (`camera.gb28181.ps_demux`,
`camera.gb28181.rtp_receiver`): it shares no code with them. FFmpeg's own PS muxer
(`-f mpeg`/`-f vob`) writes DVD-style 2048-byte packs without a program stream map, which is
not what GB/T 28181 devices send, so the PS is written here as Annex C asks and devices
do: per picture one pack header, on keyframes a system header and a PSM (H.264 0x1B on
0xE0, a G.711 entry on 0xC0 as cameras with a microphone list), then the picture in PES
0xE0 packets of at most 64 KiB, the PTS on the first. The access units come from the clip
through PyAV (`h264_mp4toannexb` puts SPS/PPS before each IDR, as cameras do).

Run as a script (by the SIPp device scenario's `exec`, or a test) it streams to a port over
UDP, or connects to a TCP-passive receiver with RFC 4571 framing.
"""

from __future__ import annotations

import argparse
import random
import socket
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import av
from av.bitstream import BitStreamFilterContext

PES_PAYLOAD_MAX = 65535 - 8  # the PES length field holds header bytes after it, too
RTP_PAYLOAD = 1400
PT = 96


def footage_units(clip: Path, limit: int) -> list[tuple[bytes, bool, int]]:
    """(Annex B, keyframe, 90 kHz PTS) for the clip's first `limit` pictures."""
    out: list[tuple[bytes, bool, int]] = []
    with av.open(str(clip)) as container:
        video = container.streams.video[0]
        bsf = BitStreamFilterContext("h264_mp4toannexb", video)
        tb = video.time_base
        assert tb is not None
        for packet in container.demux(video):
            for p in bsf.filter(packet):
                if p.pts is None:
                    continue
                out.append((bytes(p), bool(p.is_keyframe), int(p.pts * tb * 90000)))
                if len(out) >= limit:
                    return out
    return out


def _pack_header(scr: int) -> bytes:
    base = scr & 0x1FFFFFFFF
    b = bytearray(14)
    b[0:4] = b"\x00\x00\x01\xba"
    b[4] = 0x44 | ((base >> 27) & 0x38) | ((base >> 28) & 0x03)
    b[5] = (base >> 20) & 0xFF
    b[6] = 0x04 | ((base >> 12) & 0xF8) | ((base >> 13) & 0x03)
    b[7] = (base >> 5) & 0xFF
    b[8] = 0x04 | ((base << 3) & 0xF8)  # SCR extension 0
    b[9] = 0x01
    rate = 6106  # program_mux_rate in 50 byte/s units
    b[10], b[11], b[12] = (rate >> 14) & 0xFF, (rate >> 6) & 0xFF, ((rate << 2) & 0xFC) | 0x03
    b[13] = 0xF8  # reserved, no stuffing
    return bytes(b)


def _system_header() -> bytes:
    body = bytes([0x80, 0x0B, 0xB9, 0x04, 0xE1, 0xFF, 0xE0, 0xE0, 0x80, 0xC0, 0xC0, 0x08])
    return b"\x00\x00\x01\xbb" + struct.pack(">H", len(body)) + body


def _psm(stream_type: int) -> bytes:
    entries = bytes([stream_type, 0xE0, 0, 0, 0x90, 0xC0, 0, 0])  # video, G.711 audio
    body = bytes([0xE0, 0xFF, 0, 0]) + struct.pack(">H", len(entries)) + entries
    body += b"\x00\x00\x00\x00"  # CRC (devices in the field often leave it wrong too)
    return b"\x00\x00\x01\xbc" + struct.pack(">H", len(body)) + body


def _pes(payload: bytes, pts: int | None) -> bytes:
    if pts is None:
        header = bytes([0x80, 0x00, 0x00])
    else:
        p = pts & 0x1FFFFFFFF
        header = bytes(
            [
                0x80,
                0x80,
                5,
                0x21 | ((p >> 29) & 0x0E),
                (p >> 22) & 0xFF,
                0x01 | ((p >> 14) & 0xFE),
                (p >> 7) & 0xFF,
                0x01 | ((p << 1) & 0xFE),
            ]
        )
    return b"\x00\x00\x01\xe0" + struct.pack(">H", len(header) + len(payload)) + header + payload


def ps_picture(data: bytes, keyframe: bool, pts: int, stream_type: int = 0x1B) -> bytes:
    """One picture as a GB/T 28181 device packs it."""
    out = [_pack_header(pts)]
    if keyframe:
        out += [_system_header(), _psm(stream_type)]
    room = PES_PAYLOAD_MAX - 8
    for at in range(0, len(data), room):
        out.append(_pes(data[at : at + room], pts if at == 0 else None))
    return b"".join(out)


def rtp_packets(pictures: list[tuple[bytes, int]], ssrc: int, seq: int = 1000) -> list[bytes]:
    """RTP packets of PS pictures (bytes, 90 kHz timestamp); marker on each last packet."""
    out: list[bytes] = []
    for ps, ts in pictures:
        chunks = [ps[i : i + RTP_PAYLOAD] for i in range(0, len(ps), RTP_PAYLOAD)]
        for k, chunk in enumerate(chunks):
            marker = 0x80 if k == len(chunks) - 1 else 0
            header = struct.pack(">BBHII", 0x80, marker | PT, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
            out.append(header + chunk)
            seq += 1
    return out


def footage_packets(clip: Path, frames: int, ssrc: int) -> tuple[list[bytes], int]:
    """RTP packets of the clip's first `frames` pictures, and the clip's frame interval
    (90 kHz ticks)."""
    units = footage_units(clip, frames)
    pictures = [(ps_picture(d, k, pts), pts) for d, k, pts in units]
    step = units[1][2] - units[0][2] if len(units) > 1 else 3600
    return rtp_packets(pictures, ssrc), step


def with_faults(packets: list[bytes], seed: int = 7) -> Iterator[bytes]:
    """The packets with what networks and devices do to them: every 150th lost, neighbours
    swapped every 37, a duplicate every 61, a datagram of garbage every 97."""
    rng = random.Random(seed)
    i = 0
    while i < len(packets):
        if i % 37 == 5 and i + 1 < len(packets):
            yield packets[i + 1]
            yield packets[i]
            i += 2
            continue
        if i % 97 == 3:
            yield rng.randbytes(rng.randint(1, 1500))
        if i % 61 == 9:
            yield packets[i]
        if i % 150 != 25:
            yield packets[i]
        i += 1


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--host", default="127.0.0.1")
    args.add_argument("--port", type=int, required=True)
    args.add_argument("--ssrc", type=int, required=True)
    args.add_argument("--transport", choices=["udp", "tcp"], default="udp")
    args.add_argument("--source-port", type=int, default=0, help="UDP port to send from")
    args.add_argument("--clip", type=Path, required=True)
    args.add_argument("--frames", type=int, default=250)
    args.add_argument("--faults", action="store_true")
    args.add_argument("--speed", type=float, default=4.0, help="times real time")
    opts = args.parse_args(argv)
    packets, step = footage_packets(opts.clip, opts.frames, opts.ssrc % 2**32)
    stream = list(with_faults(packets)) if opts.faults else packets
    interval = step / 90000 / opts.speed
    if opts.transport == "udp":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((opts.host, opts.source_port))

        def send(p: bytes) -> None:
            sock.sendto(p, (opts.host, opts.port))
    else:
        sock = socket.create_connection((opts.host, opts.port), timeout=5)

        def send(p: bytes) -> None:
            sock.sendall(struct.pack(">H", len(p)) + p)

    try:
        due = time.monotonic()
        for p in stream:
            send(p)
            if len(p) >= 12 and p[1] & 0x80:  # a picture's last packet: keep the pace
                # Against the clock, not a sleep per picture: on a loaded machine the sends
                # and wake-ups add up, and the stream ran ~25 % slow of real time.
                due += interval
                time.sleep(max(0.0, due - time.monotonic()))
    except OSError:
        return 0  # the receiver went away (BYE): a device stops sending
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
