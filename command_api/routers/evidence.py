"""Evidence files (event snapshots, sighting crops, and later clips) from the evidence store,
to whoever may see the camera they were taken on, every view audited.

A reference is what events and sightings carry (`<kind>/<camera>/<day>/<name>.<ext>`,
written by analytics under `<data_dir>/evidence`); its camera decides who may open it, as
for live video. Nothing outside the store can be named: the reference is checked part by
part and the resolved path must stay inside it. Answers are private to the caller's browser
(no shared caches) and never sniffed as another type.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse

from command_api.audit.reads import audited_read
from command_api.auth.guard import require_camera
from command_api.deps import RegistryDep, RuntimeDep, ScopeDep, SettingsDep

router = APIRouter(tags=["evidence"])

# recordings: segments ingest records (recordings/<camera>/<day>/<start>.mp4).
KINDS = ("events", "snapshots", "clips", "recordings")
MEDIA = {".jpg": "image/jpeg", ".mp4": "video/mp4"}
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def evidence_path(root: Path, ref: str) -> tuple[str, Path]:
    """(camera id, file) of a reference, or 404 for anything that is not one."""
    parts = ref.split("/")
    if (
        len(parts) != 4
        or parts[0] not in KINDS
        or not all(_PART.match(p) for p in parts[1:])
        or Path(parts[3]).suffix not in MEDIA
    ):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such evidence")
    base = root.resolve()
    path = (base / ref).resolve()
    if not path.is_relative_to(base):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such evidence")
    return parts[1], path


@router.get(
    "/api/evidence/{ref:path}",
    dependencies=[audited_read("evidence.view")],
    response_class=FileResponse,
    summary="An evidence file (snapshot, crop or clip) by its reference",
    responses={
        200: {"content": {"image/jpeg": {}, "video/mp4": {}}},
        403: {"description": "The file's camera is not visible to the caller (audited)."},
        404: {"description": "No such evidence (or not a reference)."},
    },
)
async def get_evidence(
    ref: str,
    registry: RegistryDep,
    scope: ScopeDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
) -> FileResponse:
    camera_id, path = evidence_path(settings.data_dir / "evidence", ref)
    await require_camera(runtime, registry, scope, camera_id, "evidence.view")
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such evidence")
    return FileResponse(
        path,
        media_type=MEDIA[path.suffix],
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
