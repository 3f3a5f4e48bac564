"""Who reads which camera: the ingest workers and their fenced camera leases, as the
operations view shows them (`sharpeye status --cluster`, `GET /api/cluster`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WorkerLoad(BaseModel):
    model_config = ConfigDict(frozen=True)

    node_id: str
    heartbeat_age_s: float | None = Field(
        ge=0,
        description="Since the worker's last lease sync; None: no heartbeat on record (it "
        "stopped longer ago than a lease lasts, and still holds a lease until it runs out).",
    )
    cameras: int = Field(ge=0, description="Camera leases it holds.")
    share: float = Field(ge=0, le=1, description="Its part of the leased cameras.")


class CameraLease(BaseModel):
    model_config = ConfigDict(frozen=True)

    camera_id: str
    worker: str | None = Field(None, description="The lease holder; None: nobody reads it.")
    token: int | None = Field(
        None, description="Fencing token of the lease: +1 on every handover (a camera's history)."
    )
    expires_in_s: float | None = Field(None, description="Left on the lease unless renewed.")
    held_for_s: float | None = Field(None, description="Since this token's lease was taken.")


class Ownership(BaseModel):
    model_config = ConfigDict(frozen=True)

    workers: list[WorkerLoad]
    cameras: list[CameraLease]
    unowned: list[str] = Field(description="Cameras nobody holds a lease on.")
    orphaned: list[str] = Field(
        description="Cameras leased to a worker whose heartbeat stopped (its lease runs out, "
        "then the camera's rendezvous winner takes it)."
    )
