"""The cluster benchmark's short variant: 24 simulated cameras over 3 real `sharpeye ingest`
processes sharing one Redis. Every camera is owned once, by its rendezvous winner, and online;
a worker killed with SIGKILL has its cameras online elsewhere; a worker joining takes exactly
the cameras rendezvous hashing gives it (about 1/N). The figures themselves are the
benchmark's (benchmarks/cluster.py); the limits here are hang guards."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.cluster import run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(600)
def test_workers_share_fail_over_and_rebalance(tmp_path: Path, footage: object) -> None:
    res = run(cameras=24, workers=3, clip="vtest-360p", soak_minutes=0, work=tmp_path)
    assert res["failover_cameras"] > 0  # the victim held cameras, all online elsewhere since
    assert res["failover_s"] < 60  # hang guard: the lease TTL (8 s) plus reconnects
    assert res["moved"] == res["moved_predicted"] > 0  # only what rendezvous moves
    assert res["mem_per_camera_mb"] > 0
