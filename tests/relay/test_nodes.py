"""Which relay node and worker a camera's walls are sent to, across a city's relay nodes."""

from __future__ import annotations

from collections import Counter

from sharpeye.relay_settings import RelaySettings

NODES = [f"https://relay-{i}.city.example/{{worker}}" for i in range(4)]
CAMERAS = [f"cam-{i:05d}" for i in range(4000)]


def settings(nodes: list[str], workers: int = 2) -> RelaySettings:
    return RelaySettings.model_validate(
        {"SHARPEYE_RELAY_NODES": ",".join(nodes), "SHARPEYE_RELAY_WORKERS": workers}
    )


def test_one_camera_one_node_and_worker_whoever_asks() -> None:
    # Two API replicas (two settings objects) agree, and the URL names the worker's path.
    a, b = settings(NODES), settings(list(NODES))
    for cam in CAMERAS[:50]:
        assert a.whep_url(cam, "sub") == b.whep_url(cam, "sub")
    url = a.whep_url("cam-00001", "main")
    node = a.node("cam-00001")
    assert node is not None
    assert url == f"{node.replace('{worker}', str(a.shard('cam-00001')))}/whep/cam-00001/main"


def test_cameras_spread_over_the_nodes() -> None:
    s = settings(NODES)
    counts = Counter(s.node(c) for c in CAMERAS)
    assert set(counts) == set(NODES)
    assert all(800 <= n <= 1200 for n in counts.values()), counts  # 1,000 each on average


def test_adding_a_node_moves_only_the_cameras_it_takes() -> None:
    before = settings(NODES)
    after = settings([*NODES, "https://relay-4.city.example/{worker}"])
    moved = [c for c in CAMERAS if before.node(c) != after.node(c)]
    assert all(after.node(c) == "https://relay-4.city.example/{worker}" for c in moved)
    assert 0.15 * len(CAMERAS) <= len(moved) <= 0.25 * len(CAMERAS)  # about 1/5


def test_nodes_reached_directly_name_each_worker_by_port() -> None:
    s = settings(["http://10.0.0.11:{port}", "http://10.0.0.12:{port}"], workers=4)
    s = s.model_copy(update={"port": 8889})
    urls = {s.whep_url(c, "sub").split("/whep/")[0] for c in CAMERAS[:400]}
    assert urls == {f"http://10.0.0.{n}:{8889 + w}" for n in (11, 12) for w in range(4)}


def test_without_nodes_the_local_relay_serves() -> None:
    s = RelaySettings.model_validate({"SHARPEYE_RELAY_PORT": 8889})
    assert s.node("cam-1") is None
    assert s.whep_url("cam-1", "sub") == "http://127.0.0.1:8889/whep/cam-1/sub"
