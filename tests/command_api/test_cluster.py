"""`GET /api/cluster`: the ingest workers and every camera's lease, for administrators."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ingest.leases import Leases
from tests.command_api.harness import Harness, harness

pytestmark = pytest.mark.integration


@pytest.fixture
async def api(tmp_path: Path, redis_url: str) -> AsyncIterator[Harness]:
    async with harness(tmp_path, redis_url, start_services=False) as h:
        yield h


async def test_administrators_see_who_reads_each_camera(api: Harness) -> None:
    cameras = [c.id for c in api.runtime.registry.registry.cameras]
    leased = cameras[: len(cameras) // 2]
    assert await Leases(api.redis, "node-a", ttl_s=30).sync(leased) == set(leased)
    r = await api.client.get("/api/cluster", headers=await api.login("admin"))
    assert r.status_code == 200, r.text
    view = r.json()
    assert [(w["node_id"], w["cameras"], w["share"]) for w in view["workers"]] == [
        ("node-a", len(leased), 1.0)
    ]
    by_id = {c["camera_id"]: c for c in view["cameras"]}
    assert set(by_id) == set(cameras)
    for c in leased:
        assert by_id[c]["worker"] == "node-a" and by_id[c]["token"] == 1
        assert 0 < by_id[c]["expires_in_s"] <= 30 and by_id[c]["held_for_s"] >= 0
    assert sorted(view["unowned"]) == sorted(set(cameras) - set(leased))
    assert view["orphaned"] == []


async def test_other_roles_are_refused(api: Harness) -> None:
    for user in ("police-wall", "tourism"):
        r = await api.client.get("/api/cluster", headers=await api.login(user))
        assert r.status_code == 403, (user, r.text)
