"""The simulated fleet against real clients: PyAV/FFmpeg and a raw RTSP/TCP client."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import av
import av.logging
import pytest

from sharpeye.simulate.fleet import extra_mount_paths, registry_mounts, resolve_clip
from tests.fixtures_fleet import (
    Fleet,
    RawViewer,
    cpu_seconds,
    rtsp_describe,
    stop_and_check,
)

OPTS = {"rtsp_transport": "tcp", "analyzeduration": "100000"}
REGISTRY = """\
version: 1
cameras:
  - id: lobby
    streams:
      main: rtsp://127.0.0.1:{port}/sim/vtest-1080p/lobby
      sub: rtsp://127.0.0.1:{port}/sim/tree-720p-360p/lobby
  - id: vault
    streams: {{main: "rtsp://127.0.0.1:{port}/secure/vtest-720p/vault"}}
  - id: broken
    streams: {{main: "rtsp://localhost:{port}/sim/corrupt-720p/broken"}}
  - id: elsewhere
    streams: {{main: "rtsp://127.0.0.1:1/sim/vtest-720p/elsewhere"}}
  - id: unknown-clip
    streams: {{main: "rtsp://127.0.0.1:{port}/sim/no-such-clip/x"}}
"""


@pytest.fixture(scope="module")
def sim(footage: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """20 extra cameras plus 4 registry paths (the registry needs the port: chosen first)."""
    registry = tmp_path_factory.mktemp("fleet") / "registry.yaml"
    fleet = Fleet(cameras=20, registry=registry)
    registry.write_text(REGISTRY.format(port=fleet.port))
    pytest.importorskip("gi")
    fleet.start()
    yield fleet
    stop_and_check(fleet)


@dataclass
class Reading:
    url: str
    pts: list[float] = field(default_factory=list)
    keys: list[int] = field(default_factory=list)  # packet indexes of keyframes
    sizes: set[tuple[int, int]] = field(default_factory=set)
    decoded: int = 0


def read(url: str, keyframes: int = 3, decode: bool = True, limit_s: float = 15.0) -> Reading:
    """Read until `keyframes` keyframes were seen (so keyframes-1 whole GOPs in between)."""
    r = Reading(url)
    with av.open(url, options=OPTS, timeout=10) as c:
        stream = c.streams.video[0]
        assert stream.time_base is not None
        deadline = time.monotonic() + limit_s
        for pkt in c.demux(stream):
            if pkt.pts is None:
                continue
            if pkt.is_keyframe:
                r.keys.append(len(r.pts))
            r.pts.append(float(pkt.pts * stream.time_base))
            if decode and r.keys:  # a live join starts mid-GOP: decode from a keyframe on
                for frame in pkt.decode():
                    r.sizes.add((frame.width, frame.height))
                    r.decoded += 1
            if len(r.keys) >= keyframes or time.monotonic() > deadline:
                break
    return r


def check_live(r: Reading, keyframes: int = 3) -> None:
    assert len(r.keys) >= keyframes, f"{r.url}: keyframes at {r.keys} of {len(r.pts)} packets"
    gops = [b - a for a, b in zip(r.keys, r.keys[1:], strict=False)]
    assert gops and all(g == 50 for g in gops), f"{r.url}: GOPs {gops}"
    steps = [b - a for a, b in zip(r.pts, r.pts[1:], strict=False)]
    assert all(s > 0 for s in steps), f"{r.url}: PTS not increasing"
    assert statistics.mean(steps) == pytest.approx(0.04, rel=0.05)  # 25 fps
    # No frame lost (every GOP has its 50) and no long stall. The server stamps frames as it
    # sends them, so a saturated machine that pauses it shows a hole of a few frames.
    assert max(steps) < 0.5, f"{r.url}: a {max(steps):.2f} s hole"


def test_registry_mounts_pick_this_servers_paths(tmp_path: Path) -> None:
    registry = tmp_path / "r.yaml"
    registry.write_text(REGISTRY.format(port=8554))
    assert registry_mounts(registry, 8554) == {
        "/sim/vtest-1080p/lobby": "vtest-1080p",
        "/sim/tree-720p-360p/lobby": "tree-360p",
        "/secure/vtest-720p/vault": "vtest-720p",
        "/sim/corrupt-720p/broken": "corrupt-720p",
    }
    assert registry_mounts(registry, 9999) == {}


def test_udp_only_paths_are_mounted(tmp_path: Path) -> None:
    # /udp/<clip>/<id> serves RTP over UDP only (461 to a TCP SETUP: tests/ingest's pyav tests).
    registry = tmp_path / "r.yaml"
    urls = ["/udp/vtest-360p/u1", "/tcp/vtest-360p/t1", "/udp/vtest-360p"]
    cams = "".join(f"  - streams: {{main: 'rtsp://127.0.0.1:8554{u}'}}\n" for u in urls)
    registry.write_text("cameras:\n" + cams)
    assert registry_mounts(registry, 8554) == {"/udp/vtest-360p/u1": "vtest-360p"}


def test_clip_aliases_and_extra_paths() -> None:
    assert resolve_clip("vtest-720p") == "vtest-720p"
    assert resolve_clip("vtest-1080p-360p") == "vtest-360p"  # the registry's sub streams
    assert resolve_clip("tree-720p-360p") == "tree-360p"
    assert resolve_clip("megamind-720p-360p") is None  # no 360p encoding of that source
    assert resolve_clip("nope") is None
    # A composed scene's sub stream is its own 360p encoding, never another clip's.
    scenes = ["synthetic-fire-720p", "synthetic-fire-360p", "synthetic-crowd-720p"]
    assert resolve_clip("synthetic-fire-720p-360p", scenes) == "synthetic-fire-360p"
    assert resolve_clip("synthetic-fire-360p", scenes) == "synthetic-fire-360p"
    assert resolve_clip("synthetic-crowd-720p-360p", scenes) is None  # not composed: refused
    assert list(extra_mount_paths("tree-720p", 2)) == [
        "/sim/tree-720p/cam0001",
        "/sim/tree-720p/cam0002",
    ]


@pytest.mark.integration
def test_ready_line_counts_registry_and_extra_cameras(sim: Fleet) -> None:
    # lobby main+sub, vault, broken: 4 from the registry (the others point elsewhere) + 20
    assert f"== fleet ready: 24 cameras on rtsp://127.0.0.1:{sim.port}" in sim.output
    assert "unknown clip 'no-such-clip'" in sim.output


@pytest.mark.integration
def test_parallel_readers_get_live_video_across_gops(sim: Fleet) -> None:
    paths = {
        "/sim/vtest-720p/cam0001": (1280, 720),
        "/sim/vtest-720p/cam0020": (1280, 720),
        "/sim/vtest-720p/cam0007": (1280, 720),
        "/sim/vtest-1080p/lobby": (1920, 1080),
        "/sim/tree-720p-360p/lobby": (640, 360),  # the registry's sub-stream alias
    }
    with ThreadPoolExecutor(len(paths)) as pool:
        readings = list(pool.map(read, [sim.url(p) for p in paths]))
    for r, size in zip(readings, paths.values(), strict=True):
        check_live(r)
        assert r.sizes == {size}
        assert r.decoded >= 100


def _decode_errors(url: str, seconds: float) -> tuple[int, list[str]]:
    """Frames decoded from the first keyframe on, and FFmpeg's error-level log lines."""
    old = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    frames = 0
    try:
        with av.logging.Capture(local=False) as logs, av.open(url, options=OPTS, timeout=10) as c:
            stream = c.streams.video[0]
            started, deadline = False, time.monotonic() + seconds
            for pkt in c.demux(stream):
                started = started or pkt.is_keyframe
                if started:
                    frames += len(pkt.decode())
                if time.monotonic() > deadline:
                    break
    finally:
        av.logging.set_level(old)
    return frames, [msg for _, _, msg in logs]


@pytest.mark.integration
def test_clean_stream_decodes_without_errors(sim: Fleet) -> None:
    """The 1080p keyframe bursts (~350 KB) cross the publisher's UDP hop without loss."""
    frames, errors = _decode_errors(sim.url("/sim/vtest-1080p/lobby"), 6.0)
    assert frames >= 90
    assert errors == []


@pytest.mark.integration
def test_corrupt_clip_is_served_and_decodes_with_errors(sim: Fleet) -> None:
    frames, errors = _decode_errors(sim.url("/sim/corrupt-720p/broken"), 6.0)
    assert frames >= 90  # still served and mostly decodable
    assert errors, "the corrupt clip decoded cleanly"


@pytest.mark.integration
def test_unknown_path_is_not_found(sim: Fleet) -> None:
    status, _, _ = asyncio.run(rtsp_describe(sim.port, "/sim/vtest-720p/cam9999"))
    assert status == 404


@pytest.mark.integration
def test_secure_path_challenges_and_accepts_basic_and_digest(sim: Fleet) -> None:
    status, headers, _ = asyncio.run(rtsp_describe(sim.port, "/secure/vtest-720p/vault"))
    assert status == 401
    schemes = {h.split()[0] for h in headers["www-authenticate"]}
    assert schemes == {"Basic", "Digest"}
    token = base64.b64encode(f"{sim.user}:{sim.password}".encode()).decode()
    status, _, sdp = asyncio.run(
        rtsp_describe(sim.port, "/secure/vtest-720p/vault", {"Authorization": f"Basic {token}"})
    )
    assert status == 200 and b"H264/90000" in sdp
    wrong = base64.b64encode(f"{sim.user}:nope".encode()).decode()
    status, _, _ = asyncio.run(
        rtsp_describe(sim.port, "/secure/vtest-720p/vault", {"Authorization": f"Basic {wrong}"})
    )
    assert status == 401


@pytest.mark.integration
def test_secure_path_with_pyav(sim: Fleet) -> None:
    # FFmpeg answers the strongest challenge offered, Digest; the raw test above did Basic.
    with pytest.raises(av.error.HTTPUnauthorizedError):
        av.open(sim.url("/secure/vtest-720p/vault"), options=OPTS, timeout=10)
    with pytest.raises(av.error.HTTPUnauthorizedError):
        av.open(sim.url("/secure/vtest-720p/vault", sim.user, "wrong"), options=OPTS, timeout=10)
    r = read(sim.url("/secure/vtest-720p/vault", sim.user, sim.password), keyframes=2)
    check_live(r, keyframes=2)
    # Credentials are not needed (nor refused) on open paths.
    check_live(read(sim.url("/sim/vtest-720p/cam0002", sim.user, "any"), keyframes=2), 2)


@pytest.mark.integration
@pytest.mark.slow
def test_500_mount_paths_open_in_parallel(fleet_factory: Callable[..., Fleet]) -> None:
    fleet = fleet_factory(cameras=500, clip="vtest-360p")

    async def describe_all() -> list[tuple[int, float]]:
        gate = asyncio.Semaphore(50)

        async def one(path: str) -> tuple[int, float]:
            async with gate:
                t0 = time.monotonic()
                status, _, sdp = await asyncio.wait_for(rtsp_describe(fleet.port, path), 10)
                assert b"H264" in sdp
                return status, time.monotonic() - t0

        return await asyncio.gather(*(one(p) for p in fleet.camera_paths))

    t0 = time.monotonic()
    results = asyncio.run(describe_all())
    elapsed = time.monotonic() - t0
    assert [s for s, _ in results] == [200] * 500
    slowest = max(d for _, d in results)
    print(f"\n500 DESCRIBEs, 50 at a time: {elapsed:.2f} s total, slowest {slowest:.2f} s")

    # 100 concurrent PLAY sessions on different paths, all receiving video.
    async def play_many() -> list[int]:
        stop = asyncio.Event()
        viewers = [RawViewer(fleet.port, p) for p in fleet.camera_paths[::5]]
        tasks = [asyncio.create_task(v.run(stop)) for v in viewers]
        await asyncio.wait_for(asyncio.gather(*(v.playing.wait() for v in viewers)), 20)
        await asyncio.sleep(2.0)
        stop.set()
        await asyncio.gather(*tasks)
        return [v.bytes for v in viewers]

    got = asyncio.run(play_many())
    assert len(got) == 100 and min(got) > 50_000  # 600 kb/s for ~2 s each


@pytest.mark.integration
@pytest.mark.slow
def test_loop_boundary_keeps_pts_and_gop(fleet_factory: Callable[..., Fleet]) -> None:
    """megamind-720p is 10 s: 11 s of reading crosses a loop with no jump and no GOP change."""
    fleet = fleet_factory(cameras=1, clip="megamind-720p")
    r = read(fleet.url(fleet.camera_paths[0]), keyframes=7, decode=False, limit_s=20)
    check_live(r, keyframes=7)


@pytest.mark.integration
def test_stop_leaves_no_publisher(fleet: Fleet) -> None:
    assert len(fleet.publisher_pids()) == 1  # one ffmpeg for the one clip mounted
    fleet.stop()
    assert fleet.leftover_publishers() == []


@pytest.mark.integration
def test_kill_then_restart_on_the_same_port(fleet: Fleet) -> None:
    url = fleet.url("/sim/vtest-720p/cam0003")
    check_live(read(url, keyframes=2, decode=False), keyframes=2)
    fleet.kill()
    assert fleet.leftover_publishers() == []  # PR_SET_PDEATHSIG took them down with it
    with pytest.raises(av.error.FFmpegError):  # e.g. connection refused
        av.open(url, options=OPTS, timeout=5)
    fleet.restart()
    check_live(read(url, keyframes=2, decode=False), keyframes=2)


@pytest.mark.integration
@pytest.mark.slow
def test_measure_server_cpu_with_many_viewers(fleet_factory: Callable[..., Fleet]) -> None:
    """Prints (does not assert) the fleet's CPU with 100 and 300 raw viewers of 360p/720p."""
    for clip in ("vtest-360p", "vtest-720p"):
        fleet = fleet_factory(cameras=300, clip=clip)
        assert fleet.proc is not None
        pids = [fleet.proc.pid, *fleet.publisher_pids()]

        async def measure(
            n: int, clip: str = clip, fleet: Fleet = fleet, pids: list[int] = pids
        ) -> str:
            stop = asyncio.Event()
            viewers = [RawViewer(fleet.port, p) for p in fleet.camera_paths[:n]]
            tasks = [asyncio.create_task(v.run(stop)) for v in viewers]
            await asyncio.wait_for(asyncio.gather(*(v.playing.wait() for v in viewers)), 30)
            await asyncio.sleep(1.0)
            c0, b0, t0 = sum(map(cpu_seconds, pids)), sum(v.bytes for v in viewers), time.time()
            await asyncio.sleep(5.0)
            c1, b1, t1 = sum(map(cpu_seconds, pids)), sum(v.bytes for v in viewers), time.time()
            stop.set()
            await asyncio.gather(*tasks)
            mbps = (b1 - b0) * 8 / (t1 - t0) / 1e6
            return (
                f"{clip}: {n} viewers -> fleet CPU {100 * (c1 - c0) / (t1 - t0):.0f}% of a core"
                f" (server + {len(pids) - 1} publisher), {mbps:.0f} Mb/s delivered"
            )

        idle = sum(map(cpu_seconds, pids))
        time.sleep(3.0)
        print(f"\n{clip}: idle fleet CPU {100 * (sum(map(cpu_seconds, pids)) - idle) / 3:.0f}%")
        for n in (100, 300):
            print(asyncio.run(measure(n)))
        stop_and_check(fleet)


@pytest.mark.integration
def test_ffmpeg_cli_reads_a_camera(sim: Fleet) -> None:
    """The C reader used as benchmark anchor works against the fleet too."""
    proc = subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-nostdin", "-rtsp_transport", "tcp"),
            *("-i", sim.url("/sim/vtest-720p/cam0005"), "-t", "2", "-c", "copy", "-f", "null", "-"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.integration
def test_a_dead_publisher_is_restarted_and_the_camera_plays_again(fleet: Fleet) -> None:
    (pid,) = fleet.publisher_pids()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10  # the first retry waits the backoff's base (1 s)
    while fleet.publisher_pids() in ([], [pid]):
        assert time.monotonic() < deadline, "the killed publisher was not restarted"
        time.sleep(0.1)
    url = fleet.url(fleet.camera_paths[0])
    check_live(read(url, keyframes=2, decode=False), keyframes=2)
