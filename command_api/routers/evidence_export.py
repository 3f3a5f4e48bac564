"""Evidence exports with a chain of custody: a signed package of an evidence file, for a case.

An investigator (or an administrator) exports an evidence reference (as `/api/evidence/{ref}`
serves it) under a case and a reason; the API writes a package (sharpeye.evidence: the media,
a manifest of camera, times, who, why, case and instance with each file's SHA-256, signed
with the instance's Ed25519 key) to `<data_dir>/evidence/exports/<day>/<id>.zip` and answers
its id, manifest and download path. Packages are kept until someone removes them: they are
outside the evidence store's day folders that retention prunes, and outside its kinds, so
`/api/evidence/{ref}` cannot name one.

Who may: the exporting roles, on cameras they may see (the same check as viewing the file);
a download, the exporting roles again, on the package's camera. Every export and download is
audited, refusals and misses too; an export's record holds the package's SHA-256, so the
audit chain (keyed, outside the package) vouches for the package as well as its signature.
`/api/evidence/key` gives anyone logged in the instance's public key, for
`sharpeye evidence verify PACKAGE --key PEM` offline.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from command_api.audit.reads import audited_read
from command_api.auth.guard import require_camera
from command_api.auth.principal import Principal
from command_api.auth.roles import Role
from command_api.deps import (
    PrincipalDep,
    RegistryDep,
    Runtime,
    RuntimeDep,
    ScopeDep,
    SettingsDep,
    audit,
    deny,
    entry_for,
    require,
)
from command_api.routers.evidence import MEDIA, evidence_path
from command_api.routers.sightings import CASE_DOC, CASE_PATTERN
from sharpeye.evidence.keys import fingerprint, instance_key, public_pem
from sharpeye.evidence.manifest import Camera, Export, Exporter, Instance, Manifest
from sharpeye.evidence.package import CHUNK, Media, read_manifest, write_package
from sharpeye.registry import Registry
from sharpeye.settings import Settings

router = APIRouter(prefix="/api/evidence", tags=["evidence"])
# Those who search sightings for a case export its evidence (command_api.auth.roles).
EXPORTERS = require(Role.INVESTIGATOR, Role.ADMINISTRATOR)
EXPORTS_DIR = "exports"
_ID = re.compile(r"^ex-(\d{8})-[0-9a-f]{12}$")
REASON_DOC = "Why it is exported (e.g. for the prosecutor, a court order's number); audited."


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ref: Annotated[str, StringConstraints(min_length=1, max_length=300)] = Field(
        description="An evidence reference, as `/api/evidence/{ref}` serves it "
        "(`snapshots/<camera>/<day>/<name>.jpg`, `clips/<camera>/<day>/<name>.mp4`)."
    )
    case: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=CASE_PATTERN),
    ] = Field(description=CASE_DOC)
    reason: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=500, pattern=CASE_PATTERN
        ),
    ] = Field(description=REASON_DOC)


class ExportOut(BaseModel):
    id: str = Field(description="The export's id (`ex-<day>-<hex>`).")
    manifest: Manifest = Field(description="What the package states, as signed.")
    download: str = Field(description="Where to download the package (a zip).")
    sha256: str = Field(description="SHA-256 of the whole package, as the audit log holds it.")
    size: int = Field(description="The package's size in bytes.")


class EvidenceKeyOut(BaseModel):
    algorithm: Literal["Ed25519"] = "Ed25519"
    fingerprint: str = Field(description="`sha256:<hex>` of the raw key: read it out to compare.")
    public_key_pem: str = Field(description="Save as a file for `evidence verify --key`.")
    instance: str = Field(description="The instance's id (its registry's district).")


def _exports(settings: Settings) -> Path:
    return settings.data_dir / "evidence" / EXPORTS_DIR


def _refused(
    runtime: Runtime, principal: Principal, action: str, target: str, code: int, why: str
) -> HTTPException:
    """Audit a failed attempt that is not a refusal of scope (those go through `deny`)."""
    detail = {"status": code, "reason": why}
    audit(runtime, entry_for(principal, action, target, "error", detail))
    return HTTPException(code, why)


def _package(
    dest: Path, export: Export, media: Media, settings: Settings
) -> tuple[Manifest, str, int]:
    """Write the package; its manifest, SHA-256 and size (blocking: run in a thread)."""
    manifest = write_package(dest, export, [media], instance_key(settings.data_dir))
    digest = hashlib.sha256()
    with dest.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return manifest, digest.hexdigest(), dest.stat().st_size


def _times(path: Path) -> tuple[datetime | None, datetime]:
    """What the media covers: a clip says so beside it (`<name>.json`, written by ingest's
    clip writer); a snapshot was taken when it was written; otherwise a clip ends when it
    was written and its start is not known."""
    written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    if path.suffix == ".jpg":
        return written, written
    try:
        said = json.loads(path.with_suffix(".json").read_text())
        start, end = float(said["start"]), float(said["end"])
    except (OSError, ValueError, KeyError, TypeError):
        return None, written
    return datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)


@router.post(
    "/exports",
    status_code=status.HTTP_201_CREATED,
    response_model=ExportOut,
    dependencies=[EXPORTERS],
    summary="Export an evidence file as a signed package for a case",
    responses={
        403: {"description": "Not an exporting role, or the camera is not visible (audited)."},
        404: {"description": "No such evidence (or not a reference); audited."},
    },
)
async def create_export(
    body: ExportIn,
    registry: RegistryDep,
    scope: ScopeDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> ExportOut:
    action = "evidence.export"
    target = f"evidence:{body.ref}"
    try:
        camera_id, path = evidence_path(settings.data_dir / "evidence", body.ref)
    except HTTPException as e:
        raise await run_in_threadpool(
            _refused, runtime, principal, action, target, e.status_code, str(e.detail)
        ) from None
    if camera_id not in registry.cameras_by_id:
        raise await run_in_threadpool(
            _refused, runtime, principal, action, target, 404, "no such evidence"
        )
    camera = await require_camera(runtime, registry, scope, camera_id, action)
    if not path.is_file():
        raise await run_in_threadpool(
            _refused, runtime, principal, action, target, 404, "no such evidence"
        )
    now = datetime.fromtimestamp(runtime.clock.now(), UTC)
    export_id = f"ex-{now:%Y%m%d}-{secrets.token_hex(6)}"
    start, end = _times(path)
    export = Export(
        export_id=export_id,
        instance=_instance(registry, settings),
        camera=Camera(id=camera.id, name=camera.name),
        evidence_ref=body.ref,
        start=start,
        end=end,
        exported_at=now,
        exported_by=Exporter(actor=principal.actor, department=principal.department),
        case=body.case,
        reason=body.reason,
    )
    dest = _exports(settings) / f"{now:%Y%m%d}" / f"{export_id}.zip"
    media = Media(path, path.name, MEDIA[path.suffix])
    manifest, digest, size = await run_in_threadpool(_package, dest, export, media, settings)
    detail: dict[str, Any] = {
        "ref": body.ref,
        "camera": camera.id,
        "case": body.case,
        "reason": body.reason,
        "package_sha256": digest,
        "size": size,
        "files": {f.path: f.sha256 for f in manifest.files},
    }
    entry = entry_for(principal, action, f"export:{export_id}", detail=detail)
    await run_in_threadpool(audit, runtime, entry)
    return ExportOut(
        id=export_id,
        manifest=manifest,
        download=f"/api/evidence/exports/{export_id}",
        sha256=digest,
        size=size,
    )


def _instance(registry: Registry, settings: Settings) -> Instance:
    district = registry.district
    return Instance(id=district.id, name=district.name, node=settings.node_id)


@router.get(
    "/exports/{export_id}",
    dependencies=[EXPORTERS],
    response_class=FileResponse,
    summary="Download an export package (zip)",
    responses={
        200: {"content": {"application/zip": {}}},
        403: {"description": "Not an exporting role, or its camera is not visible (audited)."},
        404: {"description": "No such export; audited."},
    },
)
async def download_export(
    export_id: str,
    scope: ScopeDep,
    runtime: RuntimeDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> FileResponse:
    action = "evidence.download"
    target = f"export:{export_id}"
    found = _ID.match(export_id)
    path = _exports(settings) / found[1] / f"{export_id}.zip" if found else None
    if path is None or not path.is_file():
        raise await run_in_threadpool(
            _refused, runtime, principal, action, target, 404, "no such export"
        )
    manifest = await run_in_threadpool(read_manifest, path)
    camera_id = manifest.camera.id
    # The scope, not the registry: a camera since removed stays downloadable to those who
    # see every camera (administrators), and to nobody else.
    if not scope.allows(camera_id):
        raise await run_in_threadpool(
            deny,
            runtime,
            principal,
            action,
            target,
            "camera not visible to " + principal.department,
        )
    detail = {"camera": camera_id, "case": manifest.case, "size": path.stat().st_size}
    await run_in_threadpool(audit, runtime, entry_for(principal, action, target, detail=detail))
    return FileResponse(
        path,
        media_type="application/zip",
        filename=path.name,
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )


@router.get(
    "/key",
    response_model=EvidenceKeyOut,
    dependencies=[audited_read("evidence.key")],
    summary="The instance's public key, to verify export packages offline",
)
def evidence_key(registry: RegistryDep, settings: SettingsDep) -> EvidenceKeyOut:
    public = instance_key(settings.data_dir).public_key()
    return EvidenceKeyOut(
        fingerprint=fingerprint(public),
        public_key_pem=public_pem(public).decode("ascii"),
        instance=registry.district.id,
    )
