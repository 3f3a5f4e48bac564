"""Frozen-picture diagnosis against the real simulated fleet: moving cameras are never called
frozen (not even looping footage sampled in step with its loop), a still one is, with a reason."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from camera.spec import StreamSpec
from ingest.engine import IngestEngine
from sharpeye.contracts.health import CameraHealth, CameraState
from tests.fixtures_fleet import Fleet, free_port, stop_and_check

pytestmark = pytest.mark.integration

# megamind-720p loops every 10 s with a keyframe every 2 s: diagnosing every 10 s lands on
# the same keyframe of the loop each time, which used to read as three identical samples.
LOOP_S = 10.0
MOVING = {
    "loop-off": ("/sim/megamind-720p/a", "off"),
    "loop-key": ("/sim/megamind-720p/b", "keyframes"),
    "street-fps": ("/sim/vtest-720p/c", "fps"),
}
STILL = ("/sim/frozen-720p/d", "keyframes")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, footage: Any) -> Iterator[Fleet]:
    port = free_port()
    registry = tmp_path_factory.mktemp("fleet") / "registry.yaml"
    paths = [p for p, _ in (*MOVING.values(), STILL)]
    cams = [
        {"id": p.rsplit("/", 1)[1], "streams": {"main": f"rtsp://127.0.0.1:{port}{p}"}}
        for p in paths
    ]
    registry.write_text(yaml.safe_dump({"cameras": cams}))
    f = Fleet(cameras=0, registry=registry, port=port).start()
    yield f
    stop_and_check(f)


def test_moving_cameras_never_frozen_over_a_minute_and_a_still_one_is(fleet: Fleet) -> None:
    seen: list[CameraHealth] = []
    with IngestEngine(node_id="test", diagnose_every_s=LOOP_S) as engine:
        for cid, (path, sampling) in {**MOVING, "still": STILL}.items():
            engine.add(StreamSpec(cid, fleet.url(path), sampling=sampling, fps=2.0))  # type: ignore[arg-type]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            seen.extend(engine.health().values())
            time.sleep(0.25)
    moving = [h for h in seen if h.camera_id in MOVING]
    assert {h.camera_id for h in moving if h.brightness is not None} == set(MOVING)  # diagnosed
    assert [h for h in moving if "frozen" in h.quality_issues] == []
    assert [h.camera_id for h in moving if h.state == CameraState.ONLINE], "moving cameras ran"
    still = [h for h in seen if h.camera_id == "still" and "frozen" in h.quality_issues]
    assert still, "the still picture was never found frozen"
    assert still[-1].state == CameraState.DEGRADED
    assert (still[-1].reason or "").startswith("picture frozen for ")
    # Every report that is not plainly online says why, in words.
    unexplained = [h for h in seen if h.state != CameraState.ONLINE and not h.reason]
    assert unexplained == []
