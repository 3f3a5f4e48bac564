"""Cameras across ingest workers: ownership, failover, rebalance and memory, measured.

`python -m benchmarks.cluster --cameras 2000 --workers 4` runs a simulated fleet of that many
cameras (one clip, shared server pipelines), an embedded Redis and that many `sharpeye
ingest` worker processes (demux + health, analytics off), then measures, each figure beside
an anchor from the same run:

- time to full ownership: from the workers' start until every camera is leased and reported
  online by its lease holder (anchor: the lease TTL, the unit every ownership delay is made of);
- failover after SIGKILL of one worker: until each of its cameras is online again under
  another worker (anchor: the lease TTL, the earliest a takeover may start; goal ≤ 10 s);
- cameras moved when a worker joins, in units of 1/N (anchor: what rendezvous hashing
  predicts for these camera ids; goal ≤ 1.2), and the time until ownership settles;
- memory per camera: the workers' RSS over an idle worker's, per camera held (anchor: the
  idle worker's RSS);
- with `--soak-minutes M`: every worker's RSS growth per hour over M minutes (anchor: the
  idle worker's growth over the same minutes).

Results: benchmarks/results/cluster.json and cluster.png; `python -m benchmarks.summarize`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
import yaml

from benchmarks.common import RESULTS, Figure, SimFleet, machine, rss_mb, today, write_results
from ingest.leases import owner_of
from sharpeye.bus.embedded import EmbeddedRedis
from sharpeye.bus.health import effective_state, read_health_sync
from sharpeye.bus.ownership import read_ownership_sync
from sharpeye.contracts.health import CameraState

LEASE_TTL_S = 8.0  # SHARPEYE_LEASE_TTL_S's default, which the workers run with


class Worker:
    def __init__(self, node_id: str, env: dict[str, str], log_dir: Path) -> None:
        self.node_id = node_id
        self.log = (log_dir / f"{node_id}.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sharpeye.cli", "ingest"],
            env={**env, "SHARPEYE_NODE_ID": node_id},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def write_registry(path: Path, urls: list[str]) -> list[str]:
    ids = [f"c{i:05d}" for i in range(len(urls))]
    cameras = [
        {
            "id": cid,
            "name": cid,
            "department": "police",
            "location": {"lat": 31.8 + i * 1e-4, "lon": 117.2},
            "streams": {"main": url},
            "analytics": {"sampling": {"mode": "off"}},
        }
        for i, (cid, url) in enumerate(zip(ids, urls, strict=True))
    ]
    doc = {
        "version": 1,
        "district": {"id": "bench", "name": "Cluster benchmark"},
        "departments": [{"id": "police", "name": "Police", "kind": "police"}],
        "cameras": cameras,
    }
    path.write_text(yaml.safe_dump(doc))
    return ids


def settled(r: redis.Redis, ids: list[str], live: list[str]) -> tuple[bool, dict[str, str]]:
    """Every camera leased by its rendezvous winner among the live workers and reported
    online by it."""
    view = read_ownership_sync(r, ids)
    holders = {c.camera_id: c.worker for c in view.cameras if c.worker is not None}
    if any(holders.get(cid) != owner_of(cid, live) for cid in ids):
        return False, holders
    health = read_health_sync(r, ids)
    now = time.time()
    for cid in ids:
        h = health.get(cid)
        if h is None or h.node_id != holders[cid] or effective_state(h, now) != CameraState.ONLINE:
            return False, holders
    return True, holders


def wait_settled(
    r: redis.Redis, ids: list[str], live: list[str], limit_s: float
) -> tuple[float, dict[str, str]]:
    t0 = time.monotonic()
    holders: dict[str, str] = {}
    while time.monotonic() - t0 < limit_s:
        ok, holders = settled(r, ids, live)
        if ok:
            return time.monotonic() - t0, holders
        time.sleep(0.25)
    raise RuntimeError(f"ownership did not settle in {limit_s:.0f} s ({len(holders)} leased)")


def run(cameras: int, workers: int, clip: str, soak_minutes: float, work: Path) -> dict[str, Any]:
    fleet = SimFleet(cameras, clip)
    bus = EmbeddedRedis(work / "redis", write_url_file=False, persist=False)
    bus.start()
    pool: dict[str, Worker] = {}
    try:
        registry = work / "camera_registry.yaml"
        ids = write_registry(registry, fleet.urls())
        empty = work / "empty_registry.yaml"
        write_registry(empty, [])
        env = {
            **os.environ,
            "SHARPEYE_DATA_DIR": str(work / "data"),
            "SHARPEYE_ANALYTICS": "false",
            "REDIS_URL": bus.url,
        }
        r = redis.Redis.from_url(bus.url, decode_responses=True)
        # An idle worker (no cameras, its own Redis database): the memory anchor.
        idle = Worker(
            "idle", {**env, "SHARPEYE_REGISTRY": str(empty), "REDIS_URL": bus.url[:-1] + "1"}, work
        )
        t_start = time.monotonic()
        for i in range(workers):
            node = f"w{i}"
            pool[node] = Worker(node, {**env, "SHARPEYE_REGISTRY": str(registry)}, work)
        owned_s, holders = wait_settled(r, ids, list(pool), 600)
        owned_s = time.monotonic() - t_start
        time.sleep(10)  # memory after the connection bursts
        per_worker_mb = {n: rss_mb(w.proc.pid) for n, w in pool.items()}
        idle_mb = rss_mb(idle.proc.pid)
        mem_per_camera = (sum(per_worker_mb.values()) - workers * idle_mb) / cameras

        soak: dict[str, Any] = {}
        if soak_minutes > 0:
            start = {n: rss_mb(w.proc.pid) for n, w in pool.items()} | {"idle": idle_mb}
            time.sleep(soak_minutes * 60)
            end = {n: rss_mb(w.proc.pid) for n, w in pool.items()} | {"idle": rss_mb(idle.proc.pid)}
            growth = {n: (end[n] - start[n]) / start[n] * 100 / (soak_minutes / 60) for n in start}
            soak = {"start_mb": start, "end_mb": end, "growth_pct_per_h": growth}

        # Failover: kill the worker holding the most cameras.
        counts = {n: sum(1 for h in holders.values() if h == n) for n in pool}
        victim = max(counts, key=lambda n: counts[n])
        lost = [c for c, h in holders.items() if h == victim]
        pool.pop(victim).kill()
        t0 = time.monotonic()
        _, holders = wait_settled(r, ids, list(pool), 120)
        failover_s = time.monotonic() - t0

        # Join: a new worker takes its rendezvous share.
        before = dict(holders)
        predicted = sum(1 for c in ids if owner_of(c, [*pool, "w-new"]) != owner_of(c, list(pool)))
        pool["w-new"] = Worker("w-new", {**env, "SHARPEYE_REGISTRY": str(registry)}, work)
        t0 = time.monotonic()
        _, holders = wait_settled(r, ids, list(pool), 300)
        rebalance_s = time.monotonic() - t0
        moved = sum(1 for c in ids if holders[c] != before[c])
        n_after = len(pool)
        idle.stop()
        return {
            "cameras": cameras,
            "workers": workers,
            "clip": clip,
            "owned_s": owned_s,
            "failover_s": failover_s,
            "failover_cameras": len(lost),
            "moved": moved,
            "moved_predicted": predicted,
            "moved_units": moved / (cameras / n_after),
            "predicted_units": predicted / (cameras / n_after),
            "rebalance_s": rebalance_s,
            "rss_mb": per_worker_mb,
            "idle_mb": idle_mb,
            "mem_per_camera_mb": mem_per_camera,
            "soak": soak,
        }
    finally:
        for w in pool.values():
            w.stop()
        bus.stop()
        fleet.stop()


def figures(res: dict[str, Any]) -> list[Figure]:
    m, d = machine(), today()
    n, w = res["cameras"], res["workers"]
    out = [
        Figure(
            f"time to full ownership {n} cameras",
            round(res["owned_s"], 1),
            "s",
            "lease TTL",
            LEASE_TTL_S,
            f"{w} workers, every camera online",
            m,
            d,
        ),
        Figure(
            "failover after SIGKILL",
            round(res["failover_s"], 1),
            "s",
            "lease TTL (the earliest a takeover may start)",
            LEASE_TTL_S,
            f"≤ 10 s ({res['failover_cameras']} cameras moved)",
            m,
            d,
        ),
        Figure(
            "cameras moved on join",
            round(res["moved_units"], 2),
            "× 1/N",
            "rendezvous prediction for these ids",
            round(res["predicted_units"], 2),
            "≤ 1.2",
            m,
            d,
        ),
        Figure(
            "rebalance time on join",
            round(res["rebalance_s"], 1),
            "s",
            "lease TTL",
            LEASE_TTL_S,
            "—",
            m,
            d,
        ),
        Figure(
            "memory per camera",
            round(res["mem_per_camera_mb"], 3),
            "MB",
            "idle worker RSS (MB)",
            round(res["idle_mb"], 1),
            "—",
            m,
            d,
        ),
    ]
    if res["soak"]:
        growth = res["soak"]["growth_pct_per_h"]
        worst = max(v for k, v in growth.items() if k != "idle")
        out.append(
            Figure(
                "soak RSS growth per hour",
                round(worst, 2),
                "%/h",
                "idle worker, same minutes",
                round(growth["idle"], 2),
                "≤ 2 %/h",
                m,
                d,
            )
        )
    return out


def plot(res: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    labels = ["ownership", "failover", "rebalance"]
    values = [res["owned_s"], res["failover_s"], res["rebalance_s"]]
    ax1.bar(labels, values, color=["tab:blue", "tab:red", "tab:green"])
    ax1.axhline(LEASE_TTL_S, color="gray", linestyle="--", label="lease TTL")
    ax1.axhline(10.0, color="tab:red", linestyle=":", label="failover goal")
    ax1.set_ylabel("seconds")
    ax1.set_title(f"{res['cameras']} cameras, {res['workers']} workers")
    ax1.legend()
    names = list(res["rss_mb"])
    ax2.bar(names, [res["rss_mb"][n] for n in names], label="worker RSS")
    ax2.axhline(res["idle_mb"], color="gray", linestyle="--", label="idle worker")
    ax2.set_ylabel("MB")
    ax2.set_title(f"memory: {res['mem_per_camera_mb']:.2f} MB per camera")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "cluster.png", dpi=100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--clip", default="vtest-360p")
    ap.add_argument("--soak-minutes", type=float, default=0.0)
    ap.add_argument("--out", type=Path, default=None, help="write results here, not results/")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sharpeye-cluster-") as tmp:
        res = run(args.cameras, args.workers, args.clip, args.soak_minutes, Path(tmp))
    print(json.dumps(res, indent=2))
    if args.out is not None:
        args.out.write_text(json.dumps(res, indent=2))
        return
    write_results("cluster", figures(res))
    (RESULTS / "cluster.rows.json").write_text(json.dumps(res, indent=2) + "\n")
    plot(res)


if __name__ == "__main__":
    main()
