"""Search sightings by face: which stored face embeddings lie near a probe embedding.

A brute-force scan: SQL narrows to the time range (and camera) and to sightings that carry
a face, numpy compares their 128-d dlib embeddings with the probe in batches. That is
right for a district's investigations over hours or days (tens of thousands of faces, a
few seconds), and it is bounded: at most `max_scan` faces per call, the rest left to the
next call from `next_start`.

What scales it to a city (8 million sightings a day, a few million of them with a face):
the embeddings in a vector index instead of JSON: PostgreSQL with pgvector (a
`vector(128)` column, an HNSW index with `vector_l2_ops`, `ORDER BY embedding <-> probe`
filtered by time partition), or an ANN service (FAISS IVF-PQ per day) returning candidate
ids that this same threshold then confirms. The API and its answer stay as they are.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from sharpeye.contracts.sightings import Sighting
from sharpeye.store.models.sightings import SightingRow

EMBEDDING_DIM = 128
# Parsing a sighting's JSON costs ~30 µs: 100,000 faces is a few seconds of one API
# worker, the most one request may hold it; the caller continues from `next_start`.
MAX_SCAN = 100_000
# An investigator reads a list, not thousands: the nearest this many are kept.
MAX_HITS = 500
_BATCH = 2_000


@dataclass(frozen=True)
class FaceHit:
    sighting: Sighting
    distance: float  # Euclidean, dlib embedding space (< 0.5: the same person)


@dataclass(frozen=True)
class FaceScan:
    hits: list[FaceHit]  # time order (a trajectory), the nearest MAX_HITS at most
    scanned: int  # faces compared on cameras the caller may see
    # Set when the scan stopped at `max_scan` before `end`: search again from here for
    # the rest (sightings spanning this instant may come again; dedupe by sighting_id).
    next_start: float | None = None
    capped: bool = False  # more than MAX_HITS matched; the farthest were left out
    withheld: int = 0  # matches on cameras the caller may not see (not in `hits`)


def find_by_face(
    engine: Engine,
    probe: NDArray[np.float32],
    start: float,
    end: float,
    *,
    threshold: float = 0.5,
    camera: str | None = None,
    cameras: Collection[str] | None = None,
    allowed: Callable[[str], bool] | None = None,
    max_scan: int = MAX_SCAN,
    max_hits: int = MAX_HITS,
) -> FaceScan:
    """Sightings overlapping [start, end] whose face lies within `threshold` of `probe`.

    `cameras`: only these (an area on the map). `allowed(camera_id)` is the caller's scope:
    matches elsewhere are counted in `withheld` and never take a place among the `max_hits`
    kept (the cap applies to what may be seen).
    """
    if probe.shape != (EMBEDDING_DIM,):
        raise ValueError(f"probe must be a {EMBEDDING_DIM}-d embedding, not {probe.shape}")
    query = (
        select(SightingRow.first_seen, SightingRow.payload)
        .where(
            SightingRow.last_seen >= start,
            SightingRow.first_seen <= end,
            SightingRow.has_face.is_(True),
        )
        .order_by(SightingRow.first_seen, SightingRow.sighting_id)
        .limit(max_scan + 1)  # one more tells whether the range goes on
    )
    if camera is not None:
        query = query.where(SightingRow.camera_id == camera)
    if cameras is not None:
        query = query.where(SightingRow.camera_id.in_(sorted(cameras)))
    matches: list[tuple[float, dict[str, Any]]] = []
    # `read` bounds the work; `scanned` is what the caller is told, so it counts only faces
    # on cameras it may see (another department's traffic is not its to measure).
    read = scanned = withheld = 0
    next_start: float | None = None
    with Session(engine) as s:
        result = s.execute(query.execution_options(yield_per=_BATCH))
        for part in result.partitions():
            if read + len(part) > max_scan:
                next_start = float(part[max_scan - read][0])
                part = part[: max_scan - read]
            read += len(part)
            payloads = [json.loads(p) for _, p in part]
            scanned += sum(
                1 for d in payloads if allowed is None or allowed(str(d.get("camera_id")))
            )
            for match in _compare(payloads, probe, threshold):
                if allowed is None or allowed(str(match[1].get("camera_id"))):
                    matches.append(match)
                else:
                    withheld += 1
            if next_start is not None:
                break
    capped = len(matches) > max_hits
    if capped:
        matches = sorted(matches, key=lambda m: m[0])[:max_hits]
    hits = [
        FaceHit(Sighting.model_validate(d), dist)
        for dist, d in sorted(matches, key=lambda m: m[1]["first_seen"])
    ]
    return FaceScan(hits, scanned, next_start, capped, withheld)


def _compare(
    docs: list[dict[str, Any]], probe: NDArray[np.float32], threshold: float
) -> list[tuple[float, dict[str, Any]]]:
    """(distance, sighting JSON) of the docs within `threshold`; malformed faces skipped."""
    docs = [d for d in docs if len(d.get("face_embedding") or ()) == EMBEDDING_DIM]
    if not docs:
        return []
    embeddings = np.asarray([d["face_embedding"] for d in docs], np.float32)
    distances = np.linalg.norm(embeddings - probe, axis=1)
    return [(float(distances[i]), docs[i]) for i in np.flatnonzero(distances < threshold)]
