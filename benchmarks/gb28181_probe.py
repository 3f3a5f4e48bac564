"""PS-over-RTP channels read by the ingest engine, in its own process, for
benchmarks/gb28181.py: what `benchmarks.ingest_probe sharpeye` is for RTSP, with
`gb28181://` cameras instead (each on its `ingest.gb_reader.GbReader` thread: `GbSource`,
RTP reorder and picture assembly, PS demux, the keyframe gate, health).

The SIP side is left out: `BenchSignalling` answers each reader's INVITE itself by telling
`benchmarks.gb28181_sender` (a child process, not counted) to stream the footage to the
port the reader bound, under the SSRC it returns. What the reader does while playing is
kept: its call's lease is refreshed on Redis (`RedisSignalling.keep`, every third of the
lease) as against `sharpeye gb28181`. Prints one JSON line: CPU seconds of this process and
frames per camera over the measured window.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis

from benchmarks.ingest_probe import measure_engine
from camera.gb28181.invite import MediaAnswer, MediaOffer, PlayHandle
from camera.gb28181.signalling import RedisSignalling
from camera.spec import SamplingMode, StreamSpec
from ingest.engine import IngestEngine

DEVICE = "34020000001320009999"


def channel_id(i: int) -> str:
    return f"3402000000131{i:07d}"


class BenchSignalling(RedisSignalling):
    """INVITE answered by the media sender; the lease kept on Redis as in production."""

    def __init__(self, r: redis.Redis, sender: subprocess.Popen[str], sender_port: int) -> None:
        super().__init__(r, "gbbench")
        self.sender = sender
        self.sender_port = sender_port
        self._ssrc = itertools.count(100_000_001)
        self._ports: dict[str, int] = {}
        self._lock = threading.Lock()

    def _tell(self, line: str) -> None:
        assert self.sender.stdin is not None
        with self._lock:
            self.sender.stdin.write(line + "\n")
            self.sender.stdin.flush()

    def start(
        self, device_id: str, channel_id: str, offer: MediaOffer, timeout_s: float
    ) -> PlayHandle:
        ssrc = next(self._ssrc)
        call_id = f"gbbench-{ssrc}"
        self._ports[call_id] = offer.port
        self._tell(f"start {offer.port} {ssrc}")
        self._kept[call_id] = time.monotonic()
        answer = MediaAnswer("127.0.0.1", self.sender_port, "udp", 96, ssrc, None)
        return PlayHandle(call_id, device_id, channel_id, answer)

    def stop(self, handle: PlayHandle) -> None:
        port = self._ports.pop(handle.call_id, None)
        if port is not None:
            self._tell(f"stop {port}")


def measure(
    cameras: int, clip: Path, mode: str, warmup: float, duration: float, redis_url: str
) -> dict[str, float]:
    sender = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.gb28181_sender",
            "--clip",
            str(clip),
            "--seconds",
            str(warmup + duration + 20),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sender.stdout is not None
    ready = sender.stdout.readline().split()
    if len(ready) != 2 or ready[0] != "ready":
        raise RuntimeError("the PS sender did not start")
    r = redis.Redis.from_url(redis_url)
    signalling = BenchSignalling(r, sender, int(ready[1]))
    sampling: SamplingMode = "off" if mode == "demux" else "keyframes"
    engine = IngestEngine(node_id="bench", connect_workers=32, gb_signalling=signalling)
    engine.start()
    for i in range(cameras):
        url = f"gb28181://{DEVICE}/{channel_id(i + 1)}"
        engine.add(StreamSpec(f"c{i}", url, sampling=sampling, reader="gb28181"))
    got = measure_engine(engine, warmup, duration)
    engine.stop()
    sender.kill()
    return got


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--cameras", type=int, required=True)
    p.add_argument("--clip", type=Path, required=True)
    p.add_argument("--mode", choices=["demux", "keyframes"], default="demux")
    p.add_argument("--warmup", type=float, default=8)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--redis-url", required=True)
    a = p.parse_args()
    got = measure(a.cameras, a.clip, a.mode, a.warmup, a.duration, a.redis_url)
    print(json.dumps(got), flush=True)
    os._exit(0)  # reader threads blocked in select would otherwise hold the exit


if __name__ == "__main__":
    main()
