"""Every route × every role × own or another department's object × no credential, against
the one table in access_table.py: the status each caller gets, foreign objects absent from
lists, every refusal audited as denied and audited reads, searches and actions recorded.

The API runs in-process with its real lifespan (harness.py), on SQLite and on PostgreSQL:
services on, so the alarms come from events through the real consumer; the demo registry's
PTZ domes are served by the ONVIF simulator so PTZ calls reach a device.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.routing import APIWebSocketRoute, iter_route_contexts
from sqlalchemy import Engine, func, select
from starlette.routing import Mount

from analytics.store import store_sightings
from command_api.alarms.writes import write_scope
from command_api.app import create_app
from command_api.audit.background import worker_for
from command_api.audit.bounds import LIMITS, cut
from command_api.auth.roles import Role
from command_api.auth.seed import DemoUser
from sharpeye.bus.gb28181 import write_device
from sharpeye.contracts.gb28181 import GbDevice
from sharpeye.contracts.sightings import Sighting
from sharpeye.evidence.package import read_manifest
from sharpeye.logs import SecretFilter
from sharpeye.settings import Settings
from sharpeye.simulate.onvif_peer import registry_devices, start_onvif_devices
from sharpeye.store.models import (
    AlarmRoute,
    AlarmRow,
    AuditRecord,
    GrantRow,
    LoginSessionRow,
    UserRow,
)
from tests.command_api.access_table import (
    CALLERS,
    GB_DEVICE,
    LOGGED_IN,
    MOUNT,
    TABLE,
    WS,
    Caller,
    Row,
    expected,
)
from tests.command_api.asgi_socket import socket_answer
from tests.command_api.harness import DEMO_REGISTRY, NOON, Harness, event, harness

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ONVIF_SECRET = "Matrix-Onvif-Pw-never-show"
OWN, FOREIGN = "fishing-port-quay", "school-gate"  # fisheries' PTZ dome, education's
OWN_CAMERAS = {"fishing-port-quay", "fishing-port-mouth"}
USERS = [
    DemoUser("m-admin", "m-admin-pass", "police", (Role.ADMINISTRATOR,)),
    DemoUser("m-wall", "m-wall-pass", "fisheries", (Role.WALL_OPERATOR,)),
    DemoUser("m-investigator", "m-investigator-pass", "fisheries", (Role.INVESTIGATOR,)),
    DemoUser("m-viewer", "m-viewer-pass", "fisheries", (Role.DEPARTMENT_VIEWER,)),
    DemoUser("m-duty", "m-duty-pass", "fisheries", (Role.DUTY_OFFICER,)),
]
USER_OF: dict[Caller, str] = {
    "admin": "m-admin",
    "wall": "m-wall",
    "investigator": "m-investigator",
    "viewer": "m-viewer",
    "duty": "m-duty",
}
# As long as a key's name may be (200): what it does must still be recorded, on PostgreSQL
# too, its actor cut to the column (command_api.audit.bounds).
KEY_NAME = "m-key-" + "k" * 194
ACTOR: dict[Caller, str] = {**USER_OF, "key": cut(f"key:{KEY_NAME}", LIMITS["actor"])}
DEPARTMENT: dict[Caller, str] = {c: "fisheries" for c in ACTOR} | {"admin": "police"}


def route_keys(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route of `app`: HTTP methods, WS for sockets, MOUNT."""
    keys: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = str(context.path if context.path is not None else "")
        if isinstance(route, APIWebSocketRoute):
            keys.add((WS, path))
        elif isinstance(route, Mount):
            keys.add((MOUNT, path))
        else:
            keys.update((m, path) for m in (context.methods or set()) - {"HEAD"})
    return keys


def test_every_route_is_in_the_table(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"SHARPEYE_REGISTRY": DEMO_REGISTRY, "SHARPEYE_DATA_DIR": tmp_path}
    )
    routes = route_keys(create_app(settings))
    table = {(r.method, r.route) for r in TABLE}
    assert len(routes) > 50
    missing = sorted(routes - table)
    assert not missing, f"routes nobody decided who may call (add them to access_table): {missing}"
    stale = sorted(table - routes)
    assert not stale, f"rows for routes the app no longer has: {stale}"


@dataclass
class World:
    api: Harness
    headers: dict[Caller, dict[str, str]]
    tokens: dict[Caller, str | None]
    alarm: dict[str, int]
    preset: dict[str, str]
    ids: dict[str, int] = field(default_factory=dict)

    @property
    def sessions(self) -> Any:
        return self.api.runtime.sessions


def _sighting(camera: str, track: int) -> Sighting:
    return Sighting.model_validate(
        {
            "camera_id": camera,
            "track_id": track,
            "class_name": "car",
            "first_seen": NOON,
            "last_seen": NOON + 5,
            "score": 0.8,
            "box": {"x1": 0.1, "y1": 0.1, "x2": 0.3, "y2": 0.3},
            "plate": "皖S12345",
            "plate_score": 0.9,
        }
    )


def _write_ports(registry: Path, ports: dict[int, int]) -> None:
    text = registry.read_text()
    registry.write_text(re.sub(r"port: (800[123])\b", lambda m: f"port: {ports[int(m[1])]}", text))


async def _onvif_devices(api: Harness, registry: Path) -> Any:
    """The registry's ONVIF devices served on free ports, written into the registry."""
    devices = registry_devices(registry, onvif_port=0, rtsp_port=8554)
    peer = start_onvif_devices(
        [dataclasses.replace(d, port=0, password=ONVIF_SECRET) for d in devices]
    )
    ports = {d.port: running.port for d, running in zip(devices, peer.devices, strict=True)}
    _write_ports(registry, ports)
    holder = api.runtime.registry

    def moved() -> bool:
        onvif = holder.registry.cameras_by_id[FOREIGN].onvif
        return onvif is not None and onvif.port == ports[8001]

    await api.wait_for(moved, "the registry with the test's ONVIF ports")
    return peer


async def _alarms(api: Harness, admin: dict[str, str]) -> dict[str, int]:
    """An alarm routed to fisheries on its dome, one routed only to education on its gate."""
    for rule_id, camera, department in (
        ("m-own", OWN, "fisheries"),
        ("m-foreign", FOREIGN, "education"),
    ):
        rule = {
            "id": rule_id,
            "name": rule_id,
            "event_types": ["fire"],
            "cameras": [camera],
            "departments": [department],
        }
        r = await api.client.put(f"/api/rules/{rule_id}", json=rule, headers=admin)
        assert r.status_code == 200, r.text
        await api.publish(event("fire", camera, score=0.9))
    found: dict[str, int] = {}

    def routed() -> bool:
        with api.runtime.sessions() as s:
            rows = s.execute(
                select(AlarmRow.id, AlarmRow.camera_id, AlarmRoute.department_id).join(
                    AlarmRoute, AlarmRoute.alarm_id == AlarmRow.id
                )
            )
            for alarm_id, camera, department in rows:
                if (camera, department) == (OWN, "fisheries"):
                    found["own"] = alarm_id
                if (camera, department) == (FOREIGN, "education"):
                    found["foreign"] = alarm_id
        return len(found) == 2

    await api.wait_for(routed, "the two alarms", limit_s=60)
    return found


@pytest.fixture
async def world(
    tmp_path: Path, redis_url: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[World]:
    # What the registry's ONVIF credentials reference (password_env) resolves to.
    monkeypatch.setenv("SHARPEYE_SIM_ONVIF_PASSWORD", ONVIF_SECRET)
    async with harness(tmp_path, redis_url, database_url, users=USERS) as api:
        peer = await _onvif_devices(api, tmp_path / "camera_registry.yaml")
        try:
            headers: dict[Caller, dict[str, str]] = {"anonymous": {}}
            tokens: dict[Caller, str | None] = {"anonymous": None, "forged": "forged.token"}
            headers["forged"] = {"Authorization": "Bearer forged.token"}
            for caller, username in USER_OF.items():
                token = str((await _login(api, username))["access_token"])
                tokens[caller] = token
                headers[caller] = {"Authorization": f"Bearer {token}"}
            admin = headers["admin"]
            keys = {}
            for name, roles in ((KEY_NAME, ["wall_operator"]), ("m-rotate", ["department_viewer"])):
                body = {"name": name, "department": "fisheries", "roles": roles}
                r = await api.client.post("/api/auth/api-keys", json=body, headers=admin)
                assert r.status_code == 201, r.text
                keys[name] = r.json()
            tokens["key"] = keys[KEY_NAME]["key"]
            headers["key"] = {"X-API-Key": keys[KEY_NAME]["key"]}
            alarm = await _alarms(api, admin)
            await _gb_device(api)
            engine = api.runtime.sessions.kw["bind"]
            assert isinstance(engine, Engine)
            store_sightings(engine, [_sighting(OWN, 1), _sighting(FOREIGN, 2)])
            for camera in (OWN, FOREIGN):
                jpeg = tmp_path / "data" / "evidence" / "events" / camera / "20261207"
                jpeg.mkdir(parents=True)
                (jpeg / "m-evidence.jpg").write_bytes(b"\xff\xd8\xff\xe0 evidence \xff\xd9")
            preset = {}
            for target, camera in (("own", OWN), ("foreign", FOREIGN)):
                path = f"/api/cameras/{camera}/ptz/presets"
                r = await api.client.post(path, json={"name": "m-setup"}, headers=admin)
                assert r.status_code == 201, r.text
                preset[target] = r.json()["token"]
            with api.runtime.sessions() as s:
                viewer = s.execute(select(UserRow.id).where(UserRow.username == "m-viewer"))
                ids = {"user": viewer.scalar_one(), "key": keys["m-rotate"]["id"]}
            yield World(api, headers, tokens, alarm, preset, ids)
        finally:
            peer.stop()


async def _gb_device(api: Harness) -> None:
    """A GB/T 28181 device as the SIP service records one (no channel is a camera)."""
    now = time.time()
    device = GbDevice(
        device_id=GB_DEVICE,
        name="Matrix NVR",
        state="online",
        transport="UDP",
        address="127.0.0.1:5099",
        registered_at=now,
        expires_at=now + 3600,
        last_keepalive=now,
        keepalive_interval_s=60,
        keepalive_misses=3,
        updated_at=now,
    )
    await write_device(api.redis, device)


async def _login(api: Harness, username: str) -> dict[str, Any]:
    user = api.users[username]
    r = await api.client.post(
        "/api/auth/login", json={"username": username, "password": user.password}
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


# --- filling a row in for one caller -------------------------------------------------------


async def _fresh_session(world: World) -> str:
    """A session of m-duty opened now, for an administrator to revoke."""

    def duty_sessions() -> set[str]:
        with world.sessions() as s:
            return set(
                s.execute(
                    select(LoginSessionRow.id)
                    .join(UserRow, UserRow.id == LoginSessionRow.user_id)
                    .where(UserRow.username == "m-duty")
                ).scalars()
            )

    before = duty_sessions()
    await _login(world.api, "m-duty")
    (new,) = duty_sessions() - before
    return new


def _newest_grant(world: World) -> str:
    with world.sessions() as s:
        newest = s.execute(select(func.max(GrantRow.id))).scalar_one()
    assert newest is not None, "the grant POST row runs first"
    return f"api-{newest}"


def _newest_export(world: World, target: str | None) -> str:
    """The id of the newest package exported of the target's camera (the POST rows run
    first), so a download row reaches a real package, own or another department's."""
    camera = OWN if target == "own" else FOREIGN
    root = world.api.runtime.settings.data_dir / "evidence" / "exports"
    packages = sorted(root.rglob("*.zip"), key=lambda p: p.stat().st_mtime, reverse=True)
    for package in packages:
        if read_manifest(package).camera.id == camera:
            return package.stem
    raise AssertionError(f"no export of {camera}: the export POST rows run first")


async def _path(world: World, row: Row) -> str:
    path = row.url or row.route
    target = row.target
    values: dict[str, Callable[[], Any]] = {
        "camera_id": lambda: OWN if target == "own" else FOREIGN,
        "alarm_id": lambda: world.alarm[target],
        "rule_id": lambda: "m-own" if target == "own" else "m-foreign",
        "token": lambda: world.preset[target],
        "user_id": lambda: world.ids["user"],
        "key_id": lambda: world.ids["key"],
        "grant_id": lambda: _newest_grant(world),
        "export_id": lambda: _newest_export(world, target),
    }
    for name, value in values.items():
        if "{" + name + "}" in path:
            path = path.replace("{" + name + "}", str(value()))
    if "{session_id}" in path:
        path = path.replace("{session_id}", await _fresh_session(world))
    assert "{" not in path, path
    return path


async def _body(world: World, row: Row, caller: Caller) -> Any:
    async def fill(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: await fill(v) for k, v in value.items()}
        if not isinstance(value, str):
            return value
        if value == "{refresh_token}":
            return (await _login(world.api, "m-viewer"))["refresh_token"]
        return value.replace("{caller}", caller).replace(
            "{password}", world.api.users["m-viewer"].password
        )

    return await fill(row.body)


def _reset_alarms(world: World) -> None:
    with write_scope(world.sessions) as s:
        for alarm_id in world.alarm.values():
            row = s.get(AlarmRow, alarm_id)
            assert row is not None
            row.state = "new"


async def call(world: World, row: Row, caller: Caller) -> tuple[int, Any]:
    """Make the row's request as `caller`; its status and JSON answer (None if not JSON)."""
    path = await _path(world, row)
    if row.method == WS:
        query = "&".join(f"{k}={v}" for k, v in row.query.items())
        code = await socket_answer(world.api.app, path, query, world.tokens[caller])
        return code, None
    headers = world.headers[caller]
    if row.route == "/api/auth/logout" and caller in USER_OF:
        token = (await _login(world.api, USER_OF[caller]))["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
    if row.route.startswith("/api/alarms/{alarm_id}/"):
        _reset_alarms(world)
    method = "GET" if row.method == MOUNT else row.method
    kwargs: dict[str, Any] = {"headers": headers, "params": row.query}
    if row.form is not None:
        kwargs["data"] = row.form
        kwargs["files"] = {"photo": ("face.jpg", b"not a photo at all", "image/jpeg")}
    elif row.body is not None:
        kwargs["json"] = await _body(world, row, caller)
    r = await world.api.client.request(method, path, **kwargs)
    try:
        answer = r.json()
    except ValueError:
        answer = None
    return r.status_code, answer


# --- what the answers must hold -------------------------------------------------------------


def _ids(answer: Any, key: str = "id") -> set[Any]:
    assert isinstance(answer, list), answer
    return {item[key] for item in answer}


def list_check(world: World, check: str, caller: Caller, answer: Any) -> str | None:
    """Why `answer` is wrong for `caller` (None if right): foreign objects absent."""
    admin = caller == "admin"
    if check == "cameras":
        ids = _ids(answer)
        return None if (FOREIGN in ids if admin else ids == OWN_CAMERAS) else f"cameras {ids}"
    if check == "groups":
        ids = _ids(answer)
        return None if ("schools" in ids if admin else ids == {"port"}) else f"groups {ids}"
    if check == "alarms":
        ids = _ids(answer)
        own, foreign = world.alarm["own"] in ids, world.alarm["foreign"] in ids
        return None if own and foreign == admin else f"alarms {ids} (mine {world.alarm})"
    if check == "rules":
        ids = _ids(answer)
        ok = "m-own" in ids and ("m-foreign" in ids) == admin
        if not admin:
            ok = ok and all("fisheries" in r["departments"] for r in answer)
        return None if ok else f"rules {ids}"
    if check == "grants":
        departments = _ids(answer, "department")
        return None if admin or departments <= {"fisheries"} else f"grants of {departments}"
    if check == "sightings":
        cameras = _ids(answer, "camera_id")
        return None if (FOREIGN in cameras if admin else cameras == {OWN}) else f"seen {cameras}"
    if check == "gb28181":
        ids = _ids(answer, "device_id")
        return None if ids == ({GB_DEVICE} if admin else set()) else f"gb28181 devices {ids}"
    if check == "me":
        return None if answer["department"] == DEPARTMENT[caller] else f"me {answer}"
    if check == "healthz":
        return None if ("registry" in answer) == admin else f"healthz {answer}"
    if check == "verify":
        return None if answer["ok"] else f"audit chain broken: {answer}"
    raise AssertionError(f"no list check {check!r}")


def _last_seq(world: World) -> int:
    worker_for(world.sessions, world.api.runtime.clock).flush()
    with world.sessions() as s:
        return int(s.execute(select(func.coalesce(func.max(AuditRecord.seq), 0))).scalar_one())


def _records_since(world: World, seq: int) -> list[tuple[str, str, str]]:
    worker_for(world.sessions, world.api.runtime.clock).flush()
    with world.sessions() as s:
        rows = s.execute(
            select(AuditRecord.actor, AuditRecord.action, AuditRecord.outcome).where(
                AuditRecord.seq > seq
            )
        )
        return [(a, b, c) for a, b, c in rows]


def _secrets(world: World) -> dict[str, str]:
    """Every secret the run handled: none may reach an answer or a log line."""
    out = {f"password of {name}": user.password for name, user in world.api.users.items()}
    out |= {f"credential of {c}": t for c, t in world.tokens.items() if t and c != "forged"}
    out["the ONVIF devices' password"] = ONVIF_SECRET
    out["the platform's token secret"] = world.api.runtime.auth.secret
    redis_password = urlsplit(str(world.api.runtime.settings.redis_url)).password
    if redis_password:
        out["the bus password"] = redis_password
    return out


async def test_access_matrix(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    failures: list[str] = []
    answers: list[str] = []
    calls = 0
    # What a refusal must not tell about the camera it refuses.
    camera = world.api.runtime.registry.registry.cameras_by_id[FOREIGN]
    secrets = (camera.name, camera.location.address, f"{camera.location.lat}")
    for row in TABLE:
        for caller in CALLERS:
            before = _last_seq(world)
            status, answer = await call(world, row, caller)
            answers.append(str(answer))
            calls += 1
            want = expected(row, caller, row.method == WS)
            what = f"{row.method} {row.route} [{row.target}] as {caller}"
            if status != want:
                failures.append(f"{what}: {status}, expected {want}: {str(answer)[:300]}")
                continue
            records = _records_since(world, before)
            refused = caller in LOGGED_IN and caller not in row.allow
            if refused and row.target == "foreign" and any(t in str(answer) for t in secrets):
                failures.append(f"{what}: the refusal describes the camera: {answer}")
            if refused and not any(
                actor == ACTOR[caller] and outcome == row.refusal_audit
                for actor, _, outcome in records
            ):
                failures.append(f"{what}: refused without a {row.refusal_audit} record: {records}")
            if row.audit is not None and status == row.ok and caller in row.allow:
                actor = (row.audit_actor or ACTOR.get(caller, "")).replace("{caller}", caller)
                action, outcome = row.audit
                if (actor, action, outcome) not in records:
                    failures.append(f"{what}: no audit {actor} {action} {outcome}: {records}")
            if row.check is not None and caller in row.allow and status == 200:
                problem = list_check(world, row.check, caller, answer)
                if problem is not None:
                    failures.append(f"{what}: {problem}")
    assert calls == len(TABLE) * len(CALLERS)
    assert not failures, f"{len(failures)} of {calls} calls wrong:\n" + "\n".join(failures)
    # No secret in any answer of the run (every route, every caller) nor in its log lines
    # (messages, tracebacks, `extra` fields), after the platform's log filter.
    scrub = SecretFilter()
    logged = []
    for record in caplog.records:
        scrub.filter(record)
        logged.append(f"{record.getMessage()} {record.exc_text or ''} {vars(record)}")
    text, log_text = "\n".join(answers), "\n".join(logged)
    leaks = [f"{what} in an answer" for what, value in _secrets(world).items() if value in text]
    leaks += [f"{what} in the log" for what, value in _secrets(world).items() if value in log_text]
    assert not leaks, leaks
