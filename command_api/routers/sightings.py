"""Trajectory search: where a plate, a watchlist person or a face was seen, across the
cameras the caller may see.

Investigators (and administrators) only; every search is audited with what it asked, how
many results it gave and how many the caller's scope withheld (the caller is not told).
Results come in time order, which is the trajectory across the district. Face embeddings
never leave the API: they are biometric data, and a hit's distance says what is needed.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, HTTPException, Query, Response, UploadFile
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from analytics.face_search import MAX_HITS, MAX_SCAN, find_by_face
from analytics.plates.text import loose_plate, normalise_plate
from analytics.store import find_by_attributes, find_by_person, find_by_plate
from command_api.auth.roles import Role
from command_api.deps import (
    CameraScope,
    Runtime,
    RuntimeDep,
    ScopeDep,
    audit,
    deny,
    entry_for,
    require,
)
from command_api.face_probe import FaceModelsError, ProbeError, probe_embedding
from command_api.routers.problems import unprocessable
from command_api.search_area import cameras_in_area
from command_api.search_export import csv_export
from sharpeye.contracts.sightings import Sighting

router = APIRouter(prefix="/api/sightings", tags=["search"])
Color = Literal[
    "black", "white", "gray", "red", "orange", "yellow", "green", "cyan", "blue", "purple", "brown"
]  # analytics.attributes.COLORS
CASE_DOC = (
    "The case reference this search is for, as the investigator's case file names it (audited)."
)
# Printable, no control characters: it goes into the audit log as the investigator typed it.
CASE_PATTERN = r"^[^\x00-\x1f\x7f]+$"
NEAR_DOC = "Only cameras within a circle: lat,lon,radius in metres (e.g. 31.82,117.23,500)."
AREA_DOC = "Only cameras inside a polygon drawn on the map: lat,lon;lat,lon;... (3-64 points)."
MAX_SPAN_S = 31 * 86400.0
# A face search scans embeddings one by one (analytics.face_search): a week at most per
# request keeps it to a district's few seconds; longer investigations page by week.
MAX_FACE_SPAN_S = 7 * 86400.0
MAX_PHOTO_BYTES = 10 * 1024 * 1024
SEARCHERS = require(Role.INVESTIGATOR, Role.ADMINISTRATOR)


def _engine(runtime: Runtime) -> Engine:
    bind = runtime.sessions.kw["bind"]
    # The API migrated the store to head at startup: the sightings table is there.
    assert isinstance(bind, Engine)
    return bind


def _check_range(start: float, end: float, max_span_s: float) -> None:
    if not 0 <= end - start <= max_span_s:
        days = round(max_span_s / 86400)
        raise HTTPException(422, f"end must follow start by at most {days} days")


def _audit_search(
    runtime: Runtime,
    scope: CameraScope,
    action: str,
    target: str,
    detail: dict[str, Any],
    results: int,
    withheld: int,
) -> None:
    counts = {"results": results, "withheld": withheld}
    audit(runtime, entry_for(scope.principal, action, target, detail={**detail, **counts}))


@router.get(
    "",
    summary="Where a plate or a watchlist person was seen",
    response_model=list[Sighting],
    response_model_exclude={"face_embedding"},
    dependencies=[SEARCHERS],
    responses={
        **unprocessable("Neither or both of plate and person, not a plate, or more than 31 days."),
        200: {"content": {"text/csv": {}}, "description": "The sightings (JSON, or CSV)."},
    },
)
def search(
    runtime: RuntimeDep,
    scope: ScopeDep,
    start: Annotated[float, Query(description="Unix time, inclusive.")],
    end: Annotated[float, Query(description="Unix time, inclusive; at most 31 days later.")],
    case: Annotated[
        str, Query(min_length=1, max_length=64, pattern=CASE_PATTERN, description=CASE_DOC)
    ],
    plate: Annotated[
        str | None, Query(min_length=2, max_length=16, description="e.g. 皖S·12345")
    ] = None,
    person: Annotated[
        str | None,
        Query(min_length=1, max_length=64, description="Watchlist person id (face_match)."),
    ] = None,
    camera: Annotated[str | None, Query(description="Only this camera.")] = None,
    fuzzy: Annotated[
        bool,
        Query(
            description="Plates only: also what OCR may have read for it (any province, "
            "8/B 0/D/Q/O 1/I 2/Z 5/S confused, one character missing, extra or misread); "
            "the plate may then be a partial reading."
        ),
    ] = False,
    near: Annotated[str | None, Query(description=NEAR_DOC, max_length=80)] = None,
    area: Annotated[str | None, Query(description=AREA_DOC, max_length=2000)] = None,
    format: Annotated[
        Literal["json", "csv"],
        Query(description="csv: the same sightings as a spreadsheet file, for the case file."),
    ] = "json",
    class_name: Annotated[
        str | None,
        Query(alias="class", max_length=32, description="Object class: car, bus, person..."),
    ] = None,
    color: Annotated[Color | None, Query(description="A vehicle's main colour.")] = None,
    upper_color: Annotated[Color | None, Query(description="A person's top.")] = None,
    lower_color: Annotated[Color | None, Query(description="A person's trousers or skirt.")] = None,
) -> list[Sighting] | Response:
    looks: dict[str, str] = {
        k: v
        for k, v in (("color", color), ("upper_color", upper_color), ("lower_color", lower_color))
        if v is not None
    }
    if plate is not None and person is not None:
        raise HTTPException(422, "give a plate or a person, not both")
    if plate is None and person is None and not looks:
        raise HTTPException(422, "give a plate, a person, or what it looked like (color...)")
    if plate is None and person is None:
        action = "search.attributes"
        target = " ".join([class_name or "any", *(f"{k}={v}" for k, v in sorted(looks.items()))])
    elif plate is not None:
        canonical = normalise_plate(plate) or (loose_plate(plate) if fuzzy else None)
        if canonical is None:
            raise HTTPException(
                422, f"{plate!r} is not a Chinese plate (e.g. 皖S·12345, 粤B·D12345)"
            )
        action, target = "search.plate", canonical
    else:
        assert person is not None
        action, target = "search.person", person
    _check_range(start, end, MAX_SPAN_S)
    inside = cameras_in_area(runtime.registry.registry, near, area)
    if camera is not None and not scope.allows(camera):
        raise deny(runtime, scope.principal, action, camera, "camera outside the scope")
    if plate is not None:
        found = find_by_plate(_engine(runtime), target, start, end, fuzzy=fuzzy)
    elif person is not None:
        found = find_by_person(_engine(runtime), target, start, end)
    else:
        found = find_by_attributes(
            _engine(runtime), looks, start, end, class_name=class_name, cameras=inside
        )
    if inside is not None:
        found = [s for s in found if s.camera_id in inside]
    visible = [s for s in found if scope.allows(s.camera_id) and camera in (None, s.camera_id)]
    withheld = sum(1 for s in found if not scope.allows(s.camera_id)) if camera is None else 0
    detail: dict[str, Any] = {"start": start, "end": end, "camera": camera, "case": case}
    if fuzzy:
        detail["fuzzy"] = True
    if inside is not None:
        detail |= {"near": near, "area": area, "area_cameras": len(inside)}
    if format == "csv":
        detail["format"] = "csv"
    _audit_search(runtime, scope, action, target, detail, len(visible), withheld)
    if format == "csv":
        return csv_export(visible, runtime.registry.registry, case)
    return visible


class FaceHitOut(BaseModel):
    """A sighting whose face lies within the threshold of the photo's (no embedding)."""

    sighting: Sighting
    distance: float = Field(description="Euclidean, dlib space: < 0.5 is the same person.")


class FaceSearchOut(BaseModel):
    hits: list[FaceHitOut] = Field(description="Time order: the face's trajectory.")
    scanned: int = Field(
        description="Faces compared in this request on cameras in the caller's scope (others' "
        "cameras are not counted)."
    )
    complete: bool = Field(description="False: the range was not searched to its end.")
    next_start: float | None = Field(
        default=None, description="Search again from here for the rest of the range."
    )
    capped: bool = Field(
        default=False, description=f"More than {MAX_HITS} matched: the nearest are listed."
    )


@router.post(
    "/face",
    summary="Where the face in a photo was seen",
    response_model=FaceSearchOut,
    response_model_exclude={"hits": {"__all__": {"sighting": {"face_embedding"}}}},
    dependencies=[SEARCHERS],
    # Refused with 413 while the upload streams in, before it is spooled anywhere.
    max_body_size=MAX_PHOTO_BYTES + 64 * 1024,
    responses={
        413: {"description": "The photo is larger than 10 MB."},
        **unprocessable("No usable face in the photo, not a photo, or more than 7 days."),
        503: {"description": "Face models are not provisioned on this node."},
    },
)
async def search_face(
    runtime: RuntimeDep,
    scope: ScopeDep,
    photo: Annotated[UploadFile, File(description="JPEG/PNG with the face, 10 MB at most.")],
    start: Annotated[float, Form(description="Unix time, inclusive.")],
    end: Annotated[float, Form(description="Unix time, inclusive; at most 7 days later.")],
    case: Annotated[
        str, Form(min_length=1, max_length=64, pattern=CASE_PATTERN, description=CASE_DOC)
    ],
    camera: Annotated[str | None, Form(description="Only this camera.")] = None,
    threshold: Annotated[
        float, Form(gt=0.0, le=1.0, description="Largest distance kept (0.5: same person).")
    ] = 0.5,
    near: Annotated[str | None, Form(description=NEAR_DOC, max_length=80)] = None,
    area: Annotated[str | None, Form(description=AREA_DOC, max_length=2000)] = None,
) -> FaceSearchOut:
    _check_range(start, end, MAX_FACE_SPAN_S)
    camera = camera or None  # an empty form field means no camera
    inside = cameras_in_area(runtime.registry.registry, near or None, area or None)
    data = await photo.read(MAX_PHOTO_BYTES + 1)
    if len(data) > MAX_PHOTO_BYTES:
        raise HTTPException(413, "the photo is larger than 10 MB")
    # What was searched, for the audit log: the photo's digest, never the photo.
    digest = hashlib.sha256(data).hexdigest()
    if camera is not None and not scope.allows(camera):
        raise await asyncio.to_thread(
            deny, runtime, scope.principal, "search.face", camera, "camera outside the scope"
        )
    try:
        probe = await probe_embedding(runtime.settings.data_dir, data)
    except ProbeError as e:
        raise HTTPException(422, str(e)) from None
    except FaceModelsError as e:
        raise HTTPException(503, str(e)) from None
    found = await asyncio.to_thread(
        find_by_face,
        _engine(runtime),
        probe,
        start,
        end,
        threshold=threshold,
        camera=camera,
        allowed=scope.allows,
        cameras=inside,
        max_scan=MAX_SCAN,
    )
    visible = found.hits
    detail = {
        "start": start,
        "end": end,
        "camera": camera,
        "case": case,
        "threshold": threshold,
        "photo_sha256": digest,
        "photo_bytes": len(data),
        "scanned": found.scanned,
    }
    if inside is not None:
        detail |= {"near": near, "area": area, "area_cameras": len(inside)}
    withheld = found.withheld
    await asyncio.to_thread(
        _audit_search, runtime, scope, "search.face", digest, detail, len(visible), withheld
    )
    return FaceSearchOut(
        hits=[FaceHitOut(sighting=h.sighting, distance=round(h.distance, 4)) for h in visible],
        scanned=found.scanned,
        complete=found.next_start is None,
        next_start=found.next_start,
        capped=found.capped,
    )
