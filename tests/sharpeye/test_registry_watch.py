"""Hot reload: edits reach on_change with a camera diff; invalid edits keep the last good one."""

from __future__ import annotations

import asyncio
import os
import queue
from pathlib import Path

import pytest

from sharpeye.registry import (
    Registry,
    RegistryDiff,
    RegistryError,
    RegistryWatcher,
    diff_registries,
    parse_registry,
)

HEADER = """\
version: 1
district: {id: demo, name: Demo District}
departments:
  - {id: police, name: Police, kind: police}
cameras:
"""


def cam(camera_id: str, name: str | None = None) -> str:
    return (
        f"  - id: {camera_id}\n"
        f"    name: {name or camera_id}\n"
        "    department: police\n"
        "    location: {lat: 31.82, lon: 117.22}\n"
        f"    streams: {{main: 'rtsp://127.0.0.1:8554/sim/vtest-720p/{camera_id}'}}\n"
    )


Event = tuple[str, Registry | RegistryError, RegistryDiff | None]


class Recorder:
    def __init__(self) -> None:
        self.events: queue.Queue[Event] = queue.Queue()

    def on_change(self, registry: Registry, diff: RegistryDiff) -> None:
        self.events.put(("change", registry, diff))

    def on_error(self, error: RegistryError) -> None:
        self.events.put(("error", error, None))

    def next(self, timeout: float = 5.0) -> Event:
        return self.events.get(timeout=timeout)

    def none_pending(self) -> bool:
        return self.events.empty()


def write(path: Path, text: str) -> None:
    path.write_text(text)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def watcher_for(
    path: Path, recorder: Recorder, *, interval: float = 1.0, initial: Registry | None = None
) -> RegistryWatcher:
    return RegistryWatcher(
        path, recorder.on_change, recorder.on_error, interval=interval, initial=initial
    )


def expect_change(rec: Recorder) -> tuple[Registry, RegistryDiff]:
    kind, registry, diff = rec.next()
    assert kind == "change", registry
    assert isinstance(registry, Registry) and diff is not None
    return registry, diff


def test_add_remove_change_and_invalid_edit(tmp_path: Path, recorder: Recorder) -> None:
    path = tmp_path / "camera_registry.yaml"
    write(path, HEADER + cam("a"))
    watcher = watcher_for(path, recorder)

    assert watcher.poll_once()
    registry, diff = expect_change(recorder)
    assert diff == RegistryDiff(added={"a"})
    assert watcher.current is registry

    write(path, HEADER + cam("a") + cam("b"))
    assert watcher.poll_once()
    _, diff = expect_change(recorder)
    assert diff == RegistryDiff(added={"b"})

    write(path, HEADER + cam("a", name="Renamed"))
    assert watcher.poll_once()
    registry, diff = expect_change(recorder)
    assert diff == RegistryDiff(removed={"b"}, changed={"a"})
    good = registry

    # Invalid: a bad URL on line 15. Reported once; the last good registry stays.
    write(path, HEADER + cam("a") + cam("c").replace("rtsp://", "http://"))
    assert watcher.poll_once()
    kind, error, _ = recorder.next()
    assert kind == "error" and isinstance(error, RegistryError)
    assert str(error).startswith(f"{path}:15: cameras[1].streams.main (id=c): must be an rtsp")
    assert watcher.current is good
    assert not watcher.poll_once()
    assert recorder.none_pending()

    # Fixing it reports the recovery, and the diff against the last good registry.
    write(path, HEADER + cam("a", name="Renamed") + cam("c"))
    assert watcher.poll_once()
    registry, diff = expect_change(recorder)
    assert diff == RegistryDiff(added={"c"})
    assert watcher.current is registry


def test_same_content_is_not_a_change(tmp_path: Path, recorder: Recorder) -> None:
    path = tmp_path / "camera_registry.yaml"
    write(path, HEADER + cam("a"))
    watcher = watcher_for(path, recorder)
    assert watcher.poll_once()
    expect_change(recorder)
    # A touch, or a save that rewrites the same bytes, or one that only changes a comment.
    os.utime(path)
    write(path, HEADER + cam("a"))
    assert not watcher.poll_once()
    write(path, "# a comment\n" + HEADER + cam("a"))
    assert not watcher.poll_once()
    assert recorder.none_pending()


def test_initial_registry_reports_only_differences(tmp_path: Path, recorder: Recorder) -> None:
    path = tmp_path / "camera_registry.yaml"
    write(path, HEADER + cam("a"))
    initial = parse_registry(HEADER + cam("a"), str(path))
    watcher = watcher_for(path, recorder, initial=initial)
    assert not watcher.poll_once()
    assert watcher.current == initial


def test_same_size_rewrite_within_one_mtime_tick(tmp_path: Path, recorder: Recorder) -> None:
    path = tmp_path / "camera_registry.yaml"
    write(path, HEADER + cam("a"))
    stat = path.stat()
    watcher = watcher_for(path, recorder)
    watcher.poll_once()
    expect_change(recorder)
    write(path, HEADER + cam("b"))  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and, say, the same mtime
    assert watcher.poll_once()
    _, diff = expect_change(recorder)
    assert diff == RegistryDiff(added={"b"}, removed={"a"})


def test_missing_file_is_reported_once(tmp_path: Path, recorder: Recorder) -> None:
    path = tmp_path / "camera_registry.yaml"
    watcher = watcher_for(path, recorder)
    assert watcher.poll_once()
    kind, error, _ = recorder.next()
    assert kind == "error" and "cannot read" in str(error)
    assert not watcher.poll_once()
    write(path, HEADER + cam("a"))
    assert watcher.poll_once()
    assert expect_change(recorder)[1] == RegistryDiff(added={"a"})


def test_callback_exception_does_not_stop_the_watcher(tmp_path: Path) -> None:
    path = tmp_path / "camera_registry.yaml"
    write(path, HEADER + cam("a"))
    seen: list[RegistryDiff] = []

    def on_change(registry: Registry, diff: RegistryDiff) -> None:
        seen.append(diff)
        raise RuntimeError("consumer bug")

    watcher = RegistryWatcher(path, on_change, lambda e: None)
    assert watcher.poll_once()
    write(path, HEADER + cam("a") + cam("b"))
    assert watcher.poll_once()
    assert seen == [RegistryDiff(added={"a"}), RegistryDiff(added={"b"})]


def test_thread_mode(tmp_path: Path, recorder: Recorder) -> None:
    path = tmp_path / "camera_registry.yaml"
    write(path, HEADER + cam("a"))
    watcher = watcher_for(path, recorder, interval=0.02)
    watcher.start()
    try:
        assert expect_change(recorder)[1] == RegistryDiff(added={"a"})
        write(path, HEADER + cam("a") + cam("b"))
        assert expect_change(recorder)[1] == RegistryDiff(added={"b"})
        write(path, HEADER + cam("b"))
        assert expect_change(recorder)[1] == RegistryDiff(removed={"a"})
        write(path, HEADER + "  - {id: x}\n")
        kind, error, _ = recorder.next()
        assert kind == "error" and "cameras[0].name (id=x)" in str(error)
        assert watcher.current is not None and set(watcher.current.cameras_by_id) == {"b"}
    finally:
        watcher.stop()
    with pytest.raises(RuntimeError):
        watcher.start()
        watcher.start()
    watcher.stop()


async def test_asyncio_mode(tmp_path: Path, recorder: Recorder) -> None:
    path = tmp_path / "camera_registry.yaml"
    write(path, HEADER + cam("a"))
    watcher = watcher_for(path, recorder, interval=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    try:
        kind, _, diff = await asyncio.to_thread(recorder.next)
        assert kind == "change" and diff == RegistryDiff(added={"a"})
        write(path, HEADER + cam("a") + cam("b"))
        kind, _, diff = await asyncio.to_thread(recorder.next)
        assert kind == "change" and diff == RegistryDiff(added={"b"})
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)


def test_diff_registries() -> None:
    old = parse_registry(HEADER + cam("a") + cam("b") + cam("c"), "old")
    new = parse_registry(HEADER + cam("b", name="B") + cam("c") + cam("d"), "new")
    diff = diff_registries(old, new)
    assert diff == RegistryDiff(added={"d"}, removed={"a"}, changed={"b"})
    assert diff
    assert not diff_registries(new, new)
    assert diff_registries(None, new).added == {"b", "c", "d"}
