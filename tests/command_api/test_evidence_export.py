"""Evidence exports through the real app (real Redis, the store migrated, its lifespan): an
investigator's export of their department's snapshot downloads as a package that verifies
offline with the key the API gives, and each refusal (another department's camera, a role
that may not export, no case) is answered and audited. Who may call each route, as every
role, is in the access matrix (access_table.py)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from command_api.audit.background import worker_for
from command_api.auth.roles import Role
from command_api.auth.seed import DemoUser
from sharpeye.evidence.keys import existing_instance_key, fingerprint, load_public_key
from sharpeye.evidence.verify import verify_package
from sharpeye.store.models import AuditRecord
from tests.command_api.harness import Harness, harness

pytestmark = pytest.mark.integration

JPEG = b"\xff\xd8\xff\xe0" + b"a fire at the lookout" * 50 + b"\xff\xd9"
REF = "snapshots/forest-lookout-1/20270113/fire-1.jpg"  # forestry's camera
CASE = "FY-2027-0113"
REASON = "Fire at the lookout, for the prosecutor"
USERS = [
    DemoUser("x-admin", "x-admin-pass", "police", (Role.ADMINISTRATOR,)),
    DemoUser("x-forestry-inv", "x-forestry-inv-pass", "forestry", (Role.INVESTIGATOR,)),
    DemoUser("x-forestry-wall", "x-forestry-wall-pass", "forestry", (Role.WALL_OPERATOR,)),
    DemoUser("x-tourism-inv", "x-tourism-inv-pass", "tourism", (Role.INVESTIGATOR,)),
]


@pytest.fixture
async def api(tmp_path: Path, redis_url: str) -> AsyncIterator[Harness]:
    async with harness(tmp_path, redis_url, start_services=False, users=USERS) as h:
        snapshot = tmp_path / "data" / "evidence" / REF
        snapshot.parent.mkdir(parents=True)
        snapshot.write_bytes(JPEG)
        yield h


def records(api: Harness, action: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(actor, target, outcome, detail) of each audit record of `action`, oldest first."""
    worker_for(api.runtime.sessions, api.runtime.clock).flush()
    with api.runtime.sessions() as s:
        rows = s.execute(
            select(AuditRecord.actor, AuditRecord.target, AuditRecord.outcome, AuditRecord.detail)
            .where(AuditRecord.action == action)
            .order_by(AuditRecord.seq)
        )
        return [(a, t, o, d) for a, t, o, d in rows]


async def export(api: Harness, user: str, **body: str) -> Any:
    return await api.client.post(
        "/api/evidence/exports",
        json={"ref": REF, "case": CASE, "reason": REASON, **body},
        headers=await api.login(user),
    )


async def test_an_export_downloads_as_a_package_that_verifies_offline(
    api: Harness, tmp_path: Path
) -> None:
    r = await export(api, "x-forestry-inv")
    assert r.status_code == 201, r.text
    out = r.json()
    manifest = out["manifest"]
    assert manifest["camera"]["id"] == "forest-lookout-1"
    assert manifest["exported_by"] == {"actor": "x-forestry-inv", "department": "forestry"}
    assert (manifest["case"], manifest["reason"], manifest["evidence_ref"]) == (CASE, REASON, REF)
    assert manifest["instance"]["id"] == "demo"
    assert manifest["files"] == [
        {
            "path": "media/fire-1.jpg",
            "sha256": hashlib.sha256(JPEG).hexdigest(),
            "size": len(JPEG),
            "media_type": "image/jpeg",
        }
    ]
    assert out["download"] == f"/api/evidence/exports/{out['id']}"

    headers = await api.login("x-forestry-inv")
    got = await api.client.get(out["download"], headers=headers)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/zip"
    assert got.headers["cache-control"].startswith("private")
    assert hashlib.sha256(got.content).hexdigest() == out["sha256"]
    package = tmp_path / "downloaded.zip"
    package.write_bytes(got.content)

    key = await api.client.get("/api/evidence/key", headers=headers)
    assert key.status_code == 200, key.text
    pem = tmp_path / "instance.pem"
    pem.write_text(key.json()["public_key_pem"])
    instance = load_public_key(pem.read_bytes(), "instance.pem")
    assert key.json()["fingerprint"] == fingerprint(instance) == manifest["key_fingerprint"]
    assert fingerprint(existing_instance_key(tmp_path / "data")) == fingerprint(instance)
    verdict = verify_package(package, instance)
    assert verdict.intact and verdict.key_checked, verdict.findings
    # And as an officer would check it, with the command line.
    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "sharpeye.cli",
            "evidence",
            "verify",
            str(package),
            "--key",
            str(pem),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"signed by the instance's key {fingerprint(instance)}" in done.stdout

    (exported,) = records(api, "evidence.export")
    actor, target, outcome, detail = exported
    assert (actor, target, outcome) == ("x-forestry-inv", f"export:{out['id']}", "ok")
    assert (detail["case"], detail["reason"], detail["ref"]) == (CASE, REASON, REF)
    assert detail["package_sha256"] == out["sha256"]
    (downloaded,) = records(api, "evidence.download")
    assert downloaded[:3] == ("x-forestry-inv", f"export:{out['id']}", "ok")
    assert downloaded[3]["case"] == CASE
    assert [r[2] for r in records(api, "evidence.key")] == ["ok"]


async def test_another_departments_camera_is_refused_and_audited(
    api: Harness, tmp_path: Path
) -> None:
    r = await export(api, "x-tourism-inv")
    assert r.status_code == 403, r.text
    assert "Dashu" not in r.text  # the refusal does not describe the camera
    assert [(a, o) for a, _, o, _ in records(api, "evidence.export")] == [
        ("x-tourism-inv", "denied")
    ]
    assert not (tmp_path / "data" / "evidence" / "exports").exists()


async def test_a_wall_operator_may_not_export(api: Harness) -> None:
    r = await export(api, "x-forestry-wall")
    assert r.status_code == 403, r.text
    with api.runtime.sessions() as s:
        refused = s.execute(
            select(AuditRecord.actor, AuditRecord.outcome).where(
                AuditRecord.target == "/api/evidence/exports"
            )
        ).all()
    assert [tuple(row) for row in refused] == [("x-forestry-wall", "denied")]


@pytest.mark.parametrize(
    "body",
    [
        {"case": None},
        {"case": ""},
        {"case": "   "},
        {"case": "x" * 65},
        {"case": "line\nbreak"},
        {"reason": None},
        {"reason": " "},
        {"reason": "r" * 501},
    ],
)
async def test_a_case_and_a_reason_are_required(api: Harness, body: dict[str, Any]) -> None:
    payload = {"ref": REF, "case": CASE, "reason": REASON}
    for name, value in body.items():
        if value is None:
            del payload[name]
        else:
            payload[name] = value
    r = await api.client.post(
        "/api/evidence/exports", json=payload, headers=await api.login("x-forestry-inv")
    )
    assert r.status_code == 422, r.text


async def test_another_departments_export_is_not_downloaded(api: Harness) -> None:
    made = (await export(api, "x-admin")).json()
    r = await api.client.get(made["download"], headers=await api.login("x-tourism-inv"))
    assert r.status_code == 403, r.text
    outcomes = [(a, o) for a, _, o, _ in records(api, "evidence.download")]
    assert outcomes == [("x-tourism-inv", "denied")]
    ok = await api.client.get(made["download"], headers=await api.login("x-forestry-inv"))
    assert ok.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/evidence/exports/ex-20270113-000000000000",  # well formed, none such
        "/api/evidence/exports/ex-20270113-00000000000G",
        "/api/evidence/exports/not-an-id",
    ],
)
async def test_an_unknown_export_is_not_found_and_audited(api: Harness, path: str) -> None:
    r = await api.client.get(path, headers=await api.login("x-admin"))
    assert r.status_code == 404, r.text
    assert [(a, o) for a, _, o, _ in records(api, "evidence.download")] == [("x-admin", "error")]


@pytest.mark.parametrize(
    "ref",
    [
        "snapshots/forest-lookout-1/20270113/missing.jpg",
        "snapshots/forest-lookout-1/20270113/../../../../auth_secret",
        "exports/forest-lookout-1/20270113/x.jpg",
        "snapshots/no-such-camera/20270113/fire-1.jpg",
    ],
)
async def test_what_is_not_evidence_is_not_exported(api: Harness, ref: str) -> None:
    r = await export(api, "x-admin", ref=ref)
    assert r.status_code == 404, r.text
    assert [(a, o) for a, _, o, _ in records(api, "evidence.export")] == [("x-admin", "error")]


async def test_a_clips_manifest_states_what_the_clip_covers(api: Harness, tmp_path: Path) -> None:
    # Ingest's clip writer leaves `<name>.json` beside each clip: its start and end.
    ref = "clips/forest-lookout-1/20270113/fire-1.mp4"
    clip = tmp_path / "data" / "evidence" / ref
    clip.parent.mkdir(parents=True)
    clip.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 64)
    start, end = 1_799_800_000.0, 1_799_800_021.5
    clip.with_suffix(".json").write_text(json.dumps({"start": start, "end": end}))
    r = await export(api, "x-forestry-inv", ref=ref)
    assert r.status_code == 201, r.text
    manifest = r.json()["manifest"]
    assert datetime.fromisoformat(manifest["start"]).timestamp() == start
    assert datetime.fromisoformat(manifest["end"]).timestamp() == end
    assert [f["path"] for f in manifest["files"]] == ["media/fire-1.mp4"]  # not the sidecar
