"""The face in an investigator's photo, as the embedding that face search compares.

The face models (YuNet, dlib's landmarks and ResNet, ~30 MB, about a second to load) are
loaded at the first face search of an API process, not at startup: most API replicas never
get one. Loading and embedding run in a worker thread so the event loop keeps serving;
one lock covers both, because a dlib network must not run in two threads at once.
"""

from __future__ import annotations

import asyncio
import io
import threading
from pathlib import Path

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


async def probe_embedding(data_dir: Path, data: bytes) -> NDArray[np.float32]:
    return await asyncio.to_thread(probe_embedding_sync, data_dir, data)
