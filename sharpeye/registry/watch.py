"""Hot reload of the registry file: poll, validate, and hand over a new snapshot or the error.

Polling (not inotify) because the registry often sits on a bind mount or network share where
change events do not arrive; one stat per second is nothing. An invalid edit never replaces
the last good registry: cameras keep running while the operator fixes the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sharpeye.registry.errors import Problem, RegistryError
from sharpeye.registry.loader import parse_registry
from sharpeye.registry.schema import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegistryDiff:
    """Camera ids that appeared, disappeared, or whose configuration differs."""

    added: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    changed: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def diff_registries(old: Registry | None, new: Registry) -> RegistryDiff:
    """What changed for cameras between two snapshots; `old=None` means all are new."""
    before = old.cameras_by_id if old is not None else {}
    after = new.cameras_by_id
    return RegistryDiff(
        added=after.keys() - before.keys(),
        removed=before.keys() - after.keys(),
        changed={cid for cid in after.keys() & before.keys() if after[cid] != before[cid]},
    )


# Seconds after which an unchanged (mtime, size, inode, ctime) is trusted to mean no edit.
_SETTLED_S = 2.0
_UNREADABLE = (-1,)


def _signature(stat: os.stat_result) -> tuple[int, ...]:
    # The inode changes when an editor saves by writing a new file and renaming it over.
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino, stat.st_ctime_ns)


OnChange = Callable[[Registry, RegistryDiff], None]
OnError = Callable[[RegistryError], None]
# What one poll found: nothing, a new registry with its diff, or an error to report.
_Outcome = tuple[Registry, RegistryDiff] | RegistryError | None


class RegistryWatcher:
    """Polls `path` and calls `on_change(registry, diff)` or `on_error(error)` on edits.

    With `initial` (a registry the caller already loaded) the first poll only reports what
    differs from it; without, the first poll reports every camera as added. The first good
    load after an error is always reported, even if unchanged. Callbacks run on
    the polling thread (thread mode) or in the event loop (`run`); an exception in one is
    logged, never allowed to stop the watcher.
    """

    def __init__(
        self,
        path: Path,
        on_change: OnChange,
        on_error: OnError,
        *,
        interval: float = 1.0,
        initial: Registry | None = None,
    ) -> None:
        self.path = path
        self.on_change = on_change
        self.on_error = on_error
        self.interval = interval
        self._current = initial
        self._signature: tuple[int, ...] | None = None
        self._digest: bytes | None = None
        self._failing = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def current(self) -> Registry | None:
        """The last registry that validated (None before the first good load)."""
        return self._current

    def poll_once(self) -> bool:
        """Check the file now, run the callback it calls for; True if one was called."""
        return self._dispatch(self._check())

    def _check(self) -> _Outcome:
        with self._lock:
            try:
                stat = self.path.stat()
                signature = _signature(stat)
                # Two saves within one mtime tick can leave the same signature; while the
                # file is that fresh, hash it anyway (as git does for "racily clean" files).
                settled = time.time() - stat.st_mtime > _SETTLED_S
                if signature == self._signature and settled:
                    return None
                raw = self.path.read_bytes()
                # A save still in progress changes the file under us; look again next poll.
                if _signature(self.path.stat()) != signature:
                    return None
                # An editor that truncates then writes leaves the file empty for a moment:
                # that is a save under way, not an invalid registry, until it stays so.
                if not raw.strip() and not settled:
                    return None
            except OSError as exc:
                return self._read_failed(exc)
            self._signature = signature
            # mtime moves on `touch` and on saves that rewrite the same bytes: not a change.
            digest = hashlib.sha256(raw).digest()
            if digest == self._digest:
                return None
            self._digest = digest
            try:
                new = parse_registry(raw.decode("utf-8-sig"), str(self.path))
            except UnicodeDecodeError as exc:
                line = raw.count(b"\n", 0, exc.start) + 1
                return RegistryError([Problem(str(self.path), line, "", "not valid UTF-8 text")])
            except RegistryError as exc:
                self._failing = True
                return exc
            old, self._current = self._current, new
            # After an error, report even an unchanged registry so callers can clear it.
            recovered, self._failing = self._failing, False
            if old is not None and old == new and not recovered:
                return None
            return new, diff_registries(old, new)

    def _read_failed(self, exc: OSError) -> _Outcome:
        # Report a missing or unreadable file once, not every poll; the next readable
        # version is then always re-validated.
        if self._signature == _UNREADABLE:
            return None
        self._signature = _UNREADABLE
        self._digest = None
        self._failing = True
        reason = exc.strerror or type(exc).__name__
        return RegistryError([Problem(str(self.path), 0, "", f"cannot read: {reason}")])

    def _dispatch(self, outcome: _Outcome) -> bool:
        if outcome is None:
            return False
        try:
            if isinstance(outcome, RegistryError):
                self.on_error(outcome)
            else:
                self.on_change(*outcome)
        except Exception:
            log.exception("registry watcher callback failed")
        return True

    # -- thread mode ----------------------------------------------------------------------

    def start(self) -> None:
        """Poll on a daemon thread until `stop()`."""
        if self._thread is not None:
            raise RuntimeError("watcher already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="registry-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop polling and wait for the thread (a reload in progress finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                log.exception("registry watcher poll failed")
            self._stop.wait(self.interval)

    # -- asyncio mode ---------------------------------------------------------------------

    async def run(self, stop_event: asyncio.Event) -> None:
        """Poll until `stop_event` is set; callbacks run in the event loop.

        Reading and validating happen in a worker thread: a large registry takes seconds.
        """
        while not stop_event.is_set():
            try:
                outcome = await asyncio.to_thread(self._check)
            except Exception:
                log.exception("registry watcher poll failed")
                outcome = None
            self._dispatch(outcome)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), timeout=self.interval)
