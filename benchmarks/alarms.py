"""Alarm pipeline benchmarks, each beside an anchor measured in the same run.

1. Event published → signed webhook received, at a steady 200 alarms/s, through a real
   `sharpeye api` process (Redis Streams consumer group, SQLite store, outbox, delivery
   worker). Anchor: a bare relay in this process (XREAD → HTTP POST, no store, no outbox).
2. WebSocket fan-out: time from an event published until every one of N connected live
   clients (default 15,000, in several client processes) holds the alarm. Anchor: a bare
   `websockets` server broadcasting one message to as many clients.

    .venv/bin/python -m benchmarks.alarms [--rate 200] [--seconds 20] [--clients 15000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis
import redis.asyncio

from benchmarks.alarms_fanout import bench_anchor_fan_out, fan_out
from benchmarks.common import RESULTS, Figure, free_port, machine, today, write_results
from sharpeye.bus.embedded import EmbeddedRedis
from sharpeye.contracts.events import EVENTS_STREAM, Event

REPO = Path(__file__).resolve().parent.parent
SECRET = "benchmark-webhook-secret-0123456789"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Receiver:
    """A minimal keep-alive HTTP/1.1 server: records when each alarm's POST arrived."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrivals: dict[str, float] = {}

    async def start(self) -> asyncio.AbstractServer:
        return await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                now = time.time()
                payload = json.loads(body)
                key = payload.get("alarm", {}).get("dedupe_key") or payload.get("key")
                self.arrivals.setdefault(str(key), now)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


def start_api(tmp: Path, redis_url: str) -> tuple[subprocess.Popen[bytes], str]:
    from command_api.auth.seed import seed_demo
    from sharpeye.settings import Settings

    shutil.copy(REPO / "camera_registry.yaml", tmp / "camera_registry.yaml")
    settings = {
        "SHARPEYE_REGISTRY": tmp / "camera_registry.yaml",
        "SHARPEYE_DATA_DIR": tmp / "data",
    }
    seed_demo(Settings.model_validate(settings))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({k: str(v) for k, v in settings.items()})
    env.update(SHARPEYE_API_PORT=str(port), REDIS_URL=redis_url, SHARPEYE_NODE_ID="bench")
    log = (tmp / "api.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sharpeye.cli", "api"], env=env, cwd=tmp, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"API did not start: {(tmp / 'api.log').read_text()[-2000:]}")


def login(base: str, user: str = "admin", password: str = "admin-demo-pass") -> str:
    r = httpx.post(f"{base}/api/auth/login", json={"username": user, "password": password})
    r.raise_for_status()
    return str(r.json()["access_token"])


def fire(i: int, tag: str) -> Event:
    return Event(
        event_type="fire",
        camera_id="forest-lookout-1",
        occurred_at=time.time(),
        score=0.9,
        dedupe_key=f"{tag}:{i}",
        event_id=f"{tag}-{i}",
    )


async def paced(rate: float, seconds: float, send: Any) -> dict[str, float]:
    """Call `send(i)` at a steady rate; returns key → send time."""
    sent: dict[str, float] = {}
    start = time.monotonic()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        sent[str(i)] = time.time()
        await send(i)
    return sent


async def bench_latency(base: str, redis_url: str, rate: float, seconds: float) -> dict[str, Any]:
    receiver = Receiver()
    server = await receiver.start()
    token = await asyncio.to_thread(login, base)
    dest = {
        "name": "Benchmark duty desk",
        "department": "forestry",
        "kind": "webhook",
        "url": f"http://127.0.0.1:{receiver.port}/hook",
        "secret": SECRET,
    }
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient() as http:
        put = await http.put(f"{base}/api/destinations/bench", json=dest, headers=headers)
        put.raise_for_status()
    r = redis.asyncio.Redis.from_url(redis_url)

    async def send_event(i: int) -> None:
        await r.xadd(EVENTS_STREAM, fire(i, "lat").to_stream_fields())  # type: ignore[arg-type]

    sent = await paced(rate, seconds, send_event)
    await _settle(receiver, {f"lat:{k}" for k in sent})
    pipeline = [
        receiver.arrivals[f"lat:{k}"] - t
        for k, t in sent.items()
        if f"lat:{k}" in receiver.arrivals
    ]

    # Anchor: the least a relay can do — read the stream, POST each event, no store.
    anchor_stream = "bench:anchor"
    client = httpx.AsyncClient()
    stop = asyncio.Event()

    async def relay() -> None:
        last = "$"
        while not stop.is_set():
            reply: Any = await r.xread({anchor_stream: last}, block=200, count=100)
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    last = entry_id
                    await client.post(
                        f"http://127.0.0.1:{receiver.port}/anchor", content=fields[b"event"]
                    )

    task = asyncio.create_task(relay())
    await asyncio.sleep(0.3)

    async def send_anchor(i: int) -> None:
        body = json.dumps(
            {"key": f"anchor:{i}", "event": fire(i, "anchor").model_dump(mode="json")}
        )
        await r.xadd(anchor_stream, {"event": body})

    sent_anchor = await paced(rate, min(seconds, 10), send_anchor)
    await _settle(receiver, {f"anchor:{k}" for k in sent_anchor})
    stop.set()
    await task
    await client.aclose()
    anchor = [receiver.arrivals[f"anchor:{k}"] - t for k, t in sent_anchor.items()]
    server.close()
    await r.aclose()
    return {"pipeline": pipeline, "anchor": anchor, "sent": len(sent), "received": len(pipeline)}


async def _settle(receiver: Receiver, keys: set[str], limit_s: float = 60) -> None:
    for _ in range(int(limit_s / 0.05)):
        if keys <= receiver.arrivals.keys():
            return
        await asyncio.sleep(0.05)


def bench_fan_out(base: str, redis_url: str, clients: int, procs: int) -> dict[str, Any]:
    token = login(base)
    url = f"ws://{base.removeprefix('http://')}/api/alarms/live?token={token}"
    r = redis.Redis.from_url(redis_url)

    def trigger() -> float:
        t0 = time.time()
        r.xadd(EVENTS_STREAM, fire(0, f"fan-{t0}").to_stream_fields())  # type: ignore[arg-type]
        return t0

    delays, connected = fan_out(url, clients, procs, trigger)
    r.close()
    return {"delays": delays, "connected": connected}


def plot(
    latency: dict[str, Any], fan: dict[str, Any], anchor_fan: dict[str, Any], path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for label, values in (
        ("sharpeye pipeline", latency["pipeline"]),
        ("bare relay (anchor)", latency["anchor"]),
    ):
        ms = sorted(v * 1000 for v in values)
        a.plot(ms, [i / len(ms) for i in range(len(ms))], label=label)
    a.axvline(300, color="red", linestyle=":", label="goal p99 300 ms")
    a.set_xscale("log")
    a.set_xlabel("event published → webhook received (ms)")
    a.set_ylabel("fraction of alarms")
    a.legend()
    for label, values in (
        ("sharpeye /api/alarms/live", fan["delays"]),
        ("bare websockets broadcast (anchor)", anchor_fan["delays"]),
    ):
        s = sorted(values)
        b.plot(s, [i / len(s) for i in range(len(s))], label=label)
    b.axvline(1.0, color="red", linestyle=":", label="goal: all within 1 s")
    b.set_xlabel(f"seconds until a client holds the alarm ({fan['connected']} clients)")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    import resource

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=15000)
    parser.add_argument("--client-procs", type=int, default=4)
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
    tmp = Path(tempfile.mkdtemp(prefix="bench-alarms-"))
    with EmbeddedRedis(tmp / "redis", write_url_file=False) as server:
        api, base = start_api(tmp, server.url)
        try:
            latency = asyncio.run(bench_latency(base, server.url, args.rate, args.seconds))
            print(f"latency: {latency['received']}/{latency['sent']} delivered", flush=True)
            fan = bench_fan_out(base, server.url, args.clients, args.client_procs)
            print(f"fan-out: {fan['connected']} clients", flush=True)
        finally:
            api.terminate()
            api.wait(30)
    anchor_fan = bench_anchor_fan_out(args.clients, args.client_procs)
    ms = [v * 1000 for v in latency["pipeline"]]
    anchor_ms = [v * 1000 for v in latency["anchor"]]
    where = machine()
    figures = [
        Figure(
            f"event → webhook p50 at {args.rate:g} alarms/s",
            round(pct(ms, 0.5), 1),
            "ms",
            "bare relay XREAD → POST, no store",
            round(pct(anchor_ms, 0.5), 1),
            "—",
            where,
            today(),
        ),
        Figure(
            f"event → webhook p99 at {args.rate:g} alarms/s",
            round(pct(ms, 0.99), 1),
            "ms",
            "bare relay XREAD → POST, no store",
            round(pct(anchor_ms, 0.99), 1),
            "p99 ≤ 300 ms",
            where,
            today(),
        ),
        Figure(
            f"event → all {fan['connected']} live clients hold the alarm",
            round(max(fan["delays"]), 3),
            "s",
            "bare websockets broadcast, same clients",
            round(max(anchor_fan["delays"]), 3),
            "≤ 1 s",
            where,
            today(),
        ),
        Figure(
            f"event → median live client holds the alarm ({fan['connected']} clients)",
            round(statistics.median(fan["delays"]), 3),
            "s",
            "bare websockets broadcast, same clients",
            round(statistics.median(anchor_fan["delays"]), 3),
            "—",
            where,
            today(),
        ),
    ]
    path = write_results("alarms", figures)
    rows = {
        "latency_ms": ms,
        "anchor_latency_ms": anchor_ms,
        "fan_out_s": fan["delays"],
        "anchor_fan_out_s": anchor_fan["delays"],
        "sent": latency["sent"],
        "received": latency["received"],
    }
    (RESULTS / "alarms.rows.json").write_text(json.dumps(rows))
    plot(latency, fan, anchor_fan, RESULTS / "alarms.png")
    for f in figures:
        print(f"{f.figure}: {f.value} {f.unit} (anchor {f.anchor}: {f.anchor_value})")
    print(f"results in {path}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
