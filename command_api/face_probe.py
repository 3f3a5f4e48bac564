"""The face in an investigator's photo, as the embedding that face search compares.

The face models (YuNet, dlib's landmarks and ResNet, ~30 MB, about a second to load) are
loaded at the first face search of an API process, not at startup: most API replicas never
get one. Decoding, loading and embedding run in one child process of the API, not in its
threads, for two reasons seen or feared in a 7×24 run:
- memory: one probe allocates 40–70 MB for a moment (the decoded photo, YuNet's and dlib's
  buffers). Done in the API's worker threads, interleaved with its other work, part of each
  such peak stayed in glibc's arenas: the 2-hour shift record's API grew 286 → 357 MB in
  steps at the 3-minute face searches, where the probe alone in a quiet process stayed flat.
  In a child, the peaks are the child's, and the child is replaced every
  `TASKS_PER_CHILD` probes, which bounds whatever it keeps;
- faults: a crafted photo that crashes OpenCV or dlib in native code takes the child down,
  not the API serving the walls. The search is then refused (422) and the next one starts a
  new child.
One child per API process, so one probe runs at a time (a dlib network must not run in two
threads at once anyway); concurrent searches queue for it.
"""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
import signal
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import IO, Any, TypeVar

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from analytics.faces import FaceAnalyzer
from sharpeye.models.manifest import ModelError

# A photo bigger than this many pixels is refused before decoding: a small, highly
# compressed file could otherwise decode to gigabytes. 40 MP covers any camera's still.
MAX_PIXELS = 40_000_000
# Investigators' photos are often cropped from CCTV: accept faces a little smaller than
# the live analytics' default (the same size the face tests use).
MIN_FACE_PX = 24
# Probes a child serves before it is replaced (its model load, ~1 s, is paid again then).
TASKS_PER_CHILD = 200

log = logging.getLogger(__name__)
T = TypeVar("T")


class ProbeError(ValueError):
    """The photo cannot be searched with (the message says why; a 422)."""


class FaceModelsError(RuntimeError):
    """The face models are not provisioned on this node (a 503)."""


_lock = threading.Lock()
_analyzers: dict[Path, FaceAnalyzer] = {}


def _analyzer(data_dir: Path) -> FaceAnalyzer:
    """The process's analyzer for `data_dir` (call with `_lock` held)."""
    analyzer = _analyzers.get(data_dir)
    if analyzer is None:
        try:
            analyzer = FaceAnalyzer(data_dir, min_size=MIN_FACE_PX)
        except (ModelError, KeyError, OSError, RuntimeError) as e:
            raise FaceModelsError(f"face models are not usable on this node: {e}") from None
        _analyzers[data_dir] = analyzer
    return analyzer


def decode_photo(data: bytes) -> NDArray[np.uint8]:
    """BGR pixels of a JPEG/PNG/WebP photo; ProbeError if it is not one or too large."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
    # Pillow reports a malformed header in several ways, depending on the format.
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise ProbeError("the upload is not a photo (JPEG, PNG or WebP)") from None
    if width * height > MAX_PIXELS:
        raise ProbeError(f"the photo has {width}×{height} pixels; at most 40 megapixels")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise ProbeError("the upload is not a photo (JPEG, PNG or WebP)")
    return np.asarray(img, np.uint8)


def probe_embedding_sync(data_dir: Path, data: bytes) -> NDArray[np.float32]:
    """The embedding of the best usable face in the photo (highest quality, then largest)."""
    img = decode_photo(data)
    with _lock:
        analyzer = _analyzer(data_dir)
        faces = analyzer.usable_faces(img)
        if not faces:
            raise ProbeError(
                "no usable face in the photo (a clear, frontal face of at least "
                f"{MIN_FACE_PX} pixels is needed)"
            )
        best = max(faces, key=lambda f: (f.quality, f.box[2] - f.box[0]))
        return analyzer.embed(img, best)


_pool_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_tasks = 0


def _ignore_interrupts() -> None:
    """In the child: Ctrl-C (or `up` stopping its process group with SIGINT) reaches it too;
    the API ends it on its way out, so it must not die first with a KeyboardInterrupt
    traceback in the API's log. When the API is gone, its pipe closes and the child exits."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _probe_pool() -> ProcessPoolExecutor:
    """The probe child's pool, replaced every TASKS_PER_CHILD probes.

    Replaced here rather than with `max_tasks_per_child`: on Python 3.11–3.13 a pool whose
    worker exits at that limit can stop taking queued tasks (CPython gh-115634).
    """
    global _pool, _pool_tasks
    with _pool_lock:
        old = None
        if _pool is not None and _pool_tasks >= TASKS_PER_CHILD:
            old, _pool = _pool, None
        if _pool is None:
            # spawn, not fork: the API has threads (and locks held in them) when it forks.
            _pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_ignore_interrupts,
            )
            _pool_tasks = 0
        _pool_tasks += 1
        pool = _pool
    if old is not None:
        old.shutdown(wait=False)  # its queued probes still finish, then its child exits
    return pool


def shutdown_probe_pool() -> None:
    """End the probe child (the API's lifespan calls this on the way out)."""
    with _pool_lock:
        pool = _pool
    if pool is not None:
        _discard(pool)


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _pool_lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def _write_all(f: IO[bytes], data: bytes) -> None:
    f.write(data)
    f.flush()


def _probe_file(data_dir: Path, path: str) -> NDArray[np.float32]:
    return probe_embedding_sync(data_dir, Path(path).read_bytes())


async def probe_embedding(data_dir: Path, data: bytes) -> NDArray[np.float32]:
    """`probe_embedding_sync` in the probe child; ProbeError if the photo killed it.

    The photo goes to the child as a private temporary file, not through the pool's pipe:
    on Python 3.11 a child that dies while a payload larger than the pipe's buffer is being
    fed to it leaves the pool's feeder thread blocked for good (and the API's exit with it).
    """
    with tempfile.NamedTemporaryFile(prefix="sharpeye-face-probe-") as f:  # mode 0600
        await asyncio.to_thread(_write_all, f, data)
        embedding: NDArray[np.float32] = await in_probe_child(_probe_file, data_dir, f.name)
    return embedding


async def in_probe_child(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in the probe child.

    A child can die outside the input's doing (killed by an operator or the OOM killer
    between searches, which the pool may only notice during the next call), so a death is
    answered with a new child and one more try; an input that kills that one too is refused
    (ProbeError), and the next call gets a new child again.
    """
    for attempt in (1, 2):
        pool = _probe_pool()
        try:
            return await asyncio.wrap_future(pool.submit(fn, *args))
        except BrokenProcessPool:
            _discard(pool)
            log.error(
                "the face probe's process died (%s); a new one is started",
                "retrying the search" if attempt == 1 else "the search is refused",
            )
    raise ProbeError("the photo could not be processed")
