"""Search results as a file for the case: CSV that a spreadsheet opens (UTF-8 with a byte
order mark, so plates in Chinese characters read right), one row per sighting in time
order, with the camera's name and place. Face embeddings are never exported.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

from fastapi import Response

from sharpeye.contracts.sightings import Sighting
from sharpeye.registry import Registry

COLUMNS = (
    "first_seen_utc",
    "last_seen_utc",
    "camera_id",
    "camera_name",
    "lat",
    "lon",
    "class",
    "plate",
    "plate_score",
    "score",
    "watchlist_match",
    "snapshot_ref",
    "sighting_id",
)


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A cell starting with = + - @ would be a formula to a spreadsheet (CSV injection);
    # numbers (a western longitude) stay numbers.
    if text[:1] in ("=", "+", "-", "@") and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_export(sightings: list[Sighting], registry: Registry, case: str) -> Response:
    cameras = registry.cameras_by_id
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for s in sightings:
        cam = cameras.get(s.camera_id)
        writer.writerow(
            _cell(v)
            for v in (
                _utc(s.first_seen),
                _utc(s.last_seen),
                s.camera_id,
                cam.name if cam else "",
                cam.location.lat if cam else "",
                cam.location.lon if cam else "",
                s.class_name,
                s.plate,
                s.plate_score,
                s.score,
                s.face_match,
                s.snapshot_ref,
                s.sighting_id,
            )
        )
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", case)[:64] or "search"
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="sightings-{name}.csv"',
            "Cache-Control": "no-store",
        },
    )
