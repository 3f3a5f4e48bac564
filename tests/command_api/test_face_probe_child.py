"""The face probe runs in a child process of the API: its memory peaks are not the API's,
and a photo that kills it (a native crash) costs one refused search, not the API."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from command_api import face_probe
from command_api.face_probe import ProbeError, in_probe_child, probe_embedding


@pytest.fixture(autouse=True)
def fresh_pool() -> Iterator[None]:
    face_probe.shutdown_probe_pool()
    yield
    face_probe.shutdown_probe_pool()


def _child_pids() -> set[int]:
    pool = face_probe._pool
    assert pool is not None
    return set(pool._processes)  # the executor's own record of its children


async def test_the_probe_runs_in_a_child_and_survives_its_death(face_data_dir: Path) -> None:
    photo = (face_data_dir / "samples" / "obama.jpg").read_bytes()
    first = await probe_embedding(face_data_dir, photo)
    assert first.shape == (128,)
    (child,) = _child_pids()
    assert child != os.getpid()
    # Its models stay loaded: the second probe is the same child.
    second = await probe_embedding(face_data_dir, photo)
    assert _child_pids() == {child}
    assert float(abs(first - second).max()) < 1e-5
    # Ctrl-C to the process group (how `up` and a terminal stop the API) is the API's to
    # handle: the child stays, silent, until the API ends it.
    os.kill(child, signal.SIGINT)
    await probe_embedding(face_data_dir, photo)
    assert _child_pids() == {child}

    # Killed between searches (the OOM killer, an operator): the next search still works.
    os.kill(child, signal.SIGKILL)
    again = await probe_embedding(face_data_dir, photo)
    assert float(abs(first - again).max()) < 1e-5
    assert child not in _child_pids()

    # A call that kills its child twice (a photo crashing OpenCV or dlib) is refused...
    with pytest.raises(ProbeError, match="could not be processed"):
        await in_probe_child(os.abort)
    # ...and the one after it gets a new child.
    assert (await probe_embedding(face_data_dir, photo)).shape == (128,)


async def test_the_child_is_replaced_after_its_share_of_probes(
    face_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(face_probe, "TASKS_PER_CHILD", 2)
    photo = (face_data_dir / "samples" / "obama.jpg").read_bytes()
    seen = []
    for _ in range(5):
        await probe_embedding(face_data_dir, photo)
        seen.append(next(iter(_child_pids())))
    # Children 1, 1, 2, 2, 3: replaced every 2 probes, never left without one (gh-115634).
    assert seen[0] == seen[1] != seen[2] == seen[3] != seen[4]


async def test_a_bad_photo_is_still_a_clear_error_from_the_child(face_data_dir: Path) -> None:
    with pytest.raises(ProbeError, match="not a photo"):
        await probe_embedding(face_data_dir, b"not an image at all")
