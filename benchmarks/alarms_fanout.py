"""WebSocket fan-out for benchmarks/alarms.py: client processes that each hold many live
connections and time the first message, and the anchor (a bare `websockets` broadcast)."""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import sys
import time
from typing import Any

from benchmarks.common import free_port


def _clients(url: str, n: int, ready: Any, go: Any, out: Any) -> None:
    """A client process: n WebSockets; reports when connected, then each receive time."""
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))

    async def main() -> None:
        import websockets

        conns = []
        for i in range(n):
            for attempt in range(20):
                try:
                    conns.append(await websockets.connect(url, max_queue=16, open_timeout=60))
                    break
                except (OSError, TimeoutError, websockets.InvalidStatus):
                    await asyncio.sleep(0.1 * (attempt + 1))
            if i % 500 == 0:
                await asyncio.sleep(0)
        ready.put(len(conns))
        await asyncio.get_running_loop().run_in_executor(None, go.wait)

        async def first(ws: Any) -> float:
            await ws.recv()
            return time.time()

        times = await asyncio.wait_for(asyncio.gather(*(first(c) for c in conns)), 120)
        out.put(list(times))
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)

    asyncio.run(main())


def fan_out(url: str, clients: int, procs: int, trigger: Any) -> tuple[list[float], float]:
    """Connect `clients` across `procs` processes; `trigger()` returns the start time."""
    ctx = mp.get_context("spawn")
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    share = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    workers = [ctx.Process(target=_clients, args=(url, n, ready, go, out)) for n in share]
    for w in workers:
        w.start()
    connected = sum(ready.get(timeout=900) for _ in workers)
    if connected < clients:
        print(f"warning: {connected} of {clients} clients connected", file=sys.stderr)
    time.sleep(1.0)
    go.set()
    time.sleep(0.5)  # let every client await its first message
    t0 = trigger()
    times = [t for _ in workers for t in out.get(timeout=300)]
    for w in workers:
        w.join(30)
    return [t - t0 for t in times], connected


def _anchor_server(port: int, ready: Any, go: Any) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))

    async def main() -> None:
        import websockets

        conns: set[Any] = set()

        async def handler(ws: Any) -> None:
            conns.add(ws)
            try:
                await ws.wait_closed()
            finally:
                conns.discard(ws)

        async with websockets.serve(handler, "127.0.0.1", port, backlog=4096):
            ready.set()
            await asyncio.get_running_loop().run_in_executor(None, go.wait)
            websockets.broadcast(conns, json.dumps({"kind": "alarm", "anchor": True}))
            await asyncio.sleep(30)

    asyncio.run(main())


def bench_anchor_fan_out(clients: int, procs: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    port, ready, go = free_port(), ctx.Event(), ctx.Event()
    server = ctx.Process(target=_anchor_server, args=(port, ready, go))
    server.start()
    ready.wait(60)

    def trigger() -> float:
        t0 = time.time()
        go.set()
        return t0

    delays, connected = fan_out(f"ws://127.0.0.1:{port}/", clients, procs, trigger)
    server.terminate()
    server.join()
    return {"delays": delays, "connected": connected}
