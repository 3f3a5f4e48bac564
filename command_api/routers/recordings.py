"""A camera's recorded timeline for playback: its segments (each an evidence reference the
wall fetches through /api/evidence, audited per view) and the gaps between them.

The index is the `recordings` table ingest writes as each segment closes. The API reads it
here with its own query rather than through `ingest.recording_index`: services do not import
each other's internals, and the query is one indexed range scan on (camera_id, start_at).
Who may list a camera's recordings is who may see the camera (`require_camera`); the
listing is audited as `recording.list` with the range asked and the rows returned. Each
segment is checked against its file as it is listed (`command_api.recording_integrity`: a
stat and 8 bytes): one missing, of another size than indexed or not starting as an MP4 is
marked `damaged` with the reason, and the wall plays past it.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from command_api.audit.reads import audited_read, note_count
from command_api.auth.guard import require_camera
from command_api.deps import RegistryDep, Runtime, RuntimeDep, ScopeDep, SettingsDep
from command_api.recording_integrity import DamageLog, damaged_segments
from command_api.routers.problems import unprocessable
from sharpeye.store.models.recordings import RecordingRow

router = APIRouter(prefix="/api/cameras", tags=["recordings"])

# A week is more than a wall's timeline shows; the bound keeps one request's scan small.
MAX_SPAN_S = 7 * 24 * 3600.0
MAX_LIMIT = 5000
# Damaged segments already logged by this process (each is logged once).
_DAMAGE_LOG = DamageLog()


class SegmentOut(BaseModel):
    ref: str = Field(description="Evidence reference: GET /api/evidence/{ref} (fMP4).")
    start: float = Field(description="Unix time of the first picture.")
    end: float = Field(description="Unix time the last picture ends.")
    bytes: int
    frames: int
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    locked: bool = Field(description="Kept as evidence: retention never deletes it.")
    damaged: str | None = Field(
        default=None,
        description="Why the file cannot be played as recorded (missing, another size, not "
        "an MP4); None when it looks whole. Players skip a damaged segment as a gap.",
    )


class GapOut(BaseModel):
    start: float
    end: float
    reason: str | None = Field(
        default=None, description="Why not recorded: a reconnect, the writer behind, the disk."
    )


class RecordingsOut(BaseModel):
    camera_id: str
    start: float = Field(description="The range asked (Unix time).")
    end: float
    segments: list[SegmentOut] = Field(description="Segments overlapping the range, in order.")
    gaps: list[GapOut] = Field(description="Gaps overlapping the range, in order.")
    truncated: bool = Field(
        description="More rows than `limit` overlap the range: ask again from the last end."
    )


def _rows(
    runtime: Runtime, camera_id: str, start: float, end: float, limit: int
) -> list[RecordingRow]:
    t = RecordingRow
    query = (
        select(t)
        .where(t.camera_id == camera_id, t.end_at >= start, t.start_at <= end)
        .order_by(t.start_at, t.id)
        .limit(limit + 1)  # one more tells the caller the answer is cut
    )
    with runtime.sessions() as s:
        rows = list(s.scalars(query))
        s.expunge_all()  # read after the session closes
        return rows


@router.get(
    "/{camera_id}/recordings",
    response_model=RecordingsOut,
    summary="A camera's recorded segments and gaps in a time range",
    dependencies=[audited_read("recording.list")],
    responses={
        403: {"description": "The camera is not visible to the caller (audited)."},
        404: {"description": "No camera with this id."},
        **unprocessable("A range that is empty, reversed, not finite or longer than 7 days."),
    },
)
async def list_recordings(
    request: Request,
    camera_id: str,
    registry: RegistryDep,
    scope: ScopeDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    start: Annotated[float, Query(ge=0, description="From (Unix time).")],
    end: Annotated[float, Query(ge=0, description="To (Unix time), after start.")],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Rows at most.")] = 2000,
) -> RecordingsOut:
    await require_camera(runtime, registry, scope, camera_id, "recording.list")
    if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "end must be after start")
    if end - start > MAX_SPAN_S:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "a range spans at most 7 days")
    rows = await run_in_threadpool(_rows, runtime, camera_id, start, end, limit)
    truncated = len(rows) > limit
    rows = rows[:limit]
    stored = [(r.ref, r.bytes) for r in rows if r.kind == "segment" and r.ref]
    damage = await run_in_threadpool(
        damaged_segments, settings.data_dir / "evidence", camera_id, stored, _DAMAGE_LOG
    )
    segments = [
        SegmentOut(
            ref=r.ref,
            start=r.start_at,
            end=r.end_at,
            bytes=r.bytes,
            frames=r.frames,
            codec=r.codec,
            width=r.width,
            height=r.height,
            locked=r.locked,
            damaged=damage.get(r.ref),
        )
        for r in rows
        if r.kind == "segment" and r.ref
    ]
    gaps = [
        GapOut(start=r.start_at, end=r.end_at, reason=r.reason) for r in rows if r.kind == "gap"
    ]
    note_count(request, len(rows))
    return RecordingsOut(
        camera_id=camera_id,
        start=start,
        end=end,
        segments=segments,
        gaps=gaps,
        truncated=truncated,
    )
