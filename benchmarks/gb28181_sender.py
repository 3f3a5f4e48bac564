"""Many GB/T 28181 devices' media in one process: real footage as MPEG-PS over RTP, one UDP
stream per channel played, for `benchmarks.gb28181_probe` (its CPU is not counted, as the
RTSP fleet's is not).

The PS is the tests' device sender's (`tests/camera/gb28181/ps_sender.py`: per picture a
pack header, on keyframes a system header and a PSM, PES of at most 64 KiB, RTP payloads of
1400 bytes, the marker on each picture's last packet), built once from the clip and sent to
every channel under its own SSRC, sequence and timestamps, each at the clip's own 25 fps
against the clock. Commands on stdin, one a line: `start <port> <ssrc>` and `stop <port>`.

`python -m benchmarks.gb28181_sender --clip var/footage/vtest-720p.mkv --seconds 40`
"""

from __future__ import annotations

import argparse
import heapq
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.camera.gb28181.ps_sender import PT, RTP_PAYLOAD, footage_units, ps_picture


@dataclass(order=True)
class Channel:
    due: float
    port: int = field(compare=False)
    ssrc: int = field(compare=False)
    seq: int = field(default=1000, compare=False)
    picture: int = field(default=0, compare=False)
    ts_base: int = field(default=0, compare=False)
    stopped: bool = field(default=False, compare=False)


class Sender:
    """Every playing channel's next picture on one heap, sent when due."""

    def __init__(self, pictures: list[tuple[list[bytes], int]], step: int) -> None:
        self.pictures = pictures  # (RTP payloads, 90 kHz timestamp) per picture
        self.step = step
        self.loop_ticks = pictures[-1][1] - pictures[0][1] + step
        self.interval = step / 90000
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.heap: list[Channel] = []
        self.by_port: dict[int, Channel] = {}
        self.lock = threading.Lock()
        self.wake = threading.Event()

    def start(self, port: int, ssrc: int) -> None:
        with self.lock:
            old = self.by_port.pop(port, None)
            if old is not None:
                old.stopped = True
            channel = Channel(time.monotonic(), port, ssrc)
            self.by_port[port] = channel
            heapq.heappush(self.heap, channel)
        self.wake.set()

    def stop(self, port: int) -> None:
        with self.lock:
            channel = self.by_port.pop(port, None)
            if channel is not None:
                channel.stopped = True

    def _send(self, ch: Channel) -> None:
        payloads, ts = self.pictures[ch.picture]
        ts = (ts + ch.ts_base) & 0xFFFFFFFF
        last = len(payloads) - 1
        for k, payload in enumerate(payloads):
            marker = 0x80 if k == last else 0
            header = struct.pack(">BBHII", 0x80, marker | PT, ch.seq & 0xFFFF, ts, ch.ssrc)
            ch.seq += 1
            try:
                self.sock.sendto(header + payload, ("127.0.0.1", ch.port))
            except OSError:  # the reader closed its port: it will say stop
                return
        ch.picture += 1
        if ch.picture == len(self.pictures):  # loop, time going on
            ch.picture, ch.ts_base = 0, ch.ts_base + self.loop_ticks

    def run(self) -> None:
        while True:
            with self.lock:
                wait = self.heap[0].due - time.monotonic() if self.heap else 0.5
                channel = heapq.heappop(self.heap) if self.heap and wait <= 0 else None
            if channel is None:
                self.wake.wait(min(wait, 0.5))
                self.wake.clear()
                continue
            if channel.stopped:
                continue
            self._send(channel)
            # Against the clock (a late picture does not delay the ones after it).
            channel.due += self.interval
            with self.lock:
                heapq.heappush(self.heap, channel)


def prepare(clip: Path, seconds: float) -> tuple[list[tuple[list[bytes], int]], int]:
    units = footage_units(clip, max(2, int(seconds * 25)))
    step = units[1][2] - units[0][2]
    pictures = []
    for data, key, pts in units:
        ps = ps_picture(data, key, pts)
        pictures.append(([ps[i : i + RTP_PAYLOAD] for i in range(0, len(ps), RTP_PAYLOAD)], pts))
    return pictures, step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clip", type=Path, required=True)
    ap.add_argument("--seconds", type=float, default=40.0, help="footage prepared (loops)")
    a = ap.parse_args()
    pictures, step = prepare(a.clip, a.seconds)
    sender = Sender(pictures, step)
    threading.Thread(target=sender.run, daemon=True).start()
    print(f"ready {sender.port}", flush=True)
    for line in sys.stdin:
        words = line.split()
        if len(words) == 3 and words[0] == "start":
            sender.start(int(words[1]), int(words[2]))
        elif len(words) == 2 and words[0] == "stop":
            sender.stop(int(words[1]))


if __name__ == "__main__":
    main()
