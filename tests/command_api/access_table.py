"""Who may call what: the one table the access matrix (test_access_matrix.py) checks.

Every route of the app (HTTP methods, WebSockets, mounts) has at least one row; a route
without one fails the matrix, so a new route cannot ship before someone decides who may
call it. A row names the callers `allow`ed and the status they get (`ok`); every other
logged-in caller gets `refused` (403 unless said), a caller without a valid credential 401
(WebSockets: close 4401). `target` says whose object the path names: `own` (the callers'
department, fisheries: its PTZ dome fishing-port-quay, an alarm and a rule routed to it) or
`foreign` (education's school-gate, an alarm and a rule routed only there).

The callers: an administrator (police; administrators see every department), and in
fisheries one user per other role plus a machine's API key with the wall operator's role.
Rows run in order (the scratch rule is PUT before it is DELETEd).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Caller = Literal["admin", "wall", "investigator", "viewer", "duty", "key", "anonymous", "forged"]
LOGGED_IN: frozenset[Caller] = frozenset({"admin", "wall", "investigator", "viewer", "duty", "key"})
NO_CREDENTIAL: frozenset[Caller] = frozenset({"anonymous", "forged"})
CALLERS: tuple[Caller, ...] = (
    "admin",
    "wall",
    "investigator",
    "viewer",
    "duty",
    "key",
    "anonymous",
    "forged",
)

ADMIN: frozenset[Caller] = frozenset({"admin"})
# command_api.auth.roles: ALARM_HANDLERS and PTZ_OPERATORS (the key is a wall operator's).
HANDLERS: frozenset[Caller] = frozenset({"admin", "wall", "duty", "key"})
SEARCHERS: frozenset[Caller] = frozenset({"admin", "investigator"})
ANYONE: frozenset[Caller] = LOGGED_IN | NO_CREDENTIAL

HELLO = 101  # a WebSocket accepted that said hello
WS = "WS"
MOUNT = "MOUNT"

Target = Literal["own", "foreign", "-"]


@dataclass(frozen=True)
class Row:
    method: str  # HTTP method, WS or MOUNT
    route: str  # the route's path as the app declares it
    allow: frozenset[Caller]
    ok: int = 200
    refused: int = 403
    target: Target = "-"
    url: str | None = None  # the request path when it is not the route's (mounts)
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    form: dict[str, str] | None = None  # multipart fields (with a `photo` file)
    # What the product audits for an allowed call (action, outcome). Every refusal of a
    # logged-in caller (403, 4403, a 404 standing in for one) must leave a "denied" record.
    audit: tuple[str, str] | None = None
    audit_actor: str | None = None  # the audit record names someone else than the caller
    # How a refusal of a logged-in caller is audited: "denied", or "error" where it is
    # answered as a bad request (an unknown value) so as not to confirm what exists.
    refusal_audit: str = "denied"
    # The list check (test_access_matrix.list_check): foreign objects are absent.
    check: str | None = None


R = Row
CAM = "/api/cameras/{camera_id}"
PTZ = CAM + "/ptz"
ALARM = "/api/alarms/{alarm_id}"
EVIDENCE = "/api/evidence/{ref:path}"
EVIDENCE_URL = "/api/evidence/events/{camera_id}/20261207/m-evidence.jpg"
EXPORTS = "/api/evidence/exports"
LOCKS = "/api/evidence/locks"
RULE = {
    "id": "m-scratch",
    "name": "Scratch rule",
    "event_types": ["smoke"],
    "cameras": ["fishing-port-mouth"],
    "departments": ["fisheries"],
}
MOVE = {"pan": 0.1, "tilt": 0.0, "zoom": 0.0, "duration_s": 0.1}
SPAN = {"start": 1_799_812_000, "end": 1_799_816_400}
SPAN_FORM = {k: str(v) for k, v in SPAN.items()}
CASE = "M-2026-0117"  # every search names the case it is for
# A GB/T 28181 device the matrix's world registers on Redis, no channel of it a registry
# camera: administrators see it, everyone else as if it were absent.
GB_DEVICE = "34020000001320000099"
GB = "/api/gb28181/devices/{device_id}"
GB_URL = f"/api/gb28181/devices/{GB_DEVICE}"


def export_of(camera: str) -> dict[str, str]:
    """An export of the evidence file the matrix's world writes for `camera`."""
    ref = f"events/{camera}/20261207/m-evidence.jpg"
    return {"ref": ref, "case": CASE, "reason": "matrix: for the case file"}


TABLE: tuple[Row, ...] = (
    # Public: the OpenAPI document and its pages, probes, the wall's static files.
    R("GET", "/openapi.json", ANYONE),
    R("GET", "/docs", ANYONE),
    R("GET", "/redoc", ANYONE),
    R(MOUNT, "/docs-assets", ANYONE, url="/docs-assets/swagger-ui.css"),
    R(MOUNT, "", ANYONE, url="/"),
    R("GET", "/healthz", ANYONE, check="healthz"),
    # Prometheus scrapes on the node's internal network, without a login (by design).
    R("GET", "/metrics", ANYONE),
    # Login and renewal take their credential in the body: the caller's header is ignored.
    R("POST", "/api/auth/login", ANYONE, body={"username": "m-viewer", "password": "{password}"}),
    R(
        "POST",
        "/api/auth/login",
        ANYONE,
        ok=401,
        body={"username": "m-nobody-{caller}", "password": "wrong-password"},
        audit=("login", "denied"),
        audit_actor="m-nobody-{caller}",
    ),
    R("POST", "/api/auth/refresh", ANYONE, body={"refresh_token": "{refresh_token}"}),
    R("POST", "/api/auth/refresh", ANYONE, ok=401, body={"refresh_token": "not-a-token"}),
    # Each caller logs out a fresh session of its own (a key has none: nothing to end).
    R("POST", "/api/auth/logout", LOGGED_IN, ok=204),
    R("GET", "/api/auth/me", LOGGED_IN, check="me"),
    # Users change their own password with the current one (a wrong one here: 401, audited);
    # a key has none.
    R(
        "POST",
        "/api/auth/password",
        LOGGED_IN - {"key"},
        ok=401,
        body={"current_password": "not-the-password", "new_password": "m-new-password-1"},
        audit=("user.password", "denied"),
    ),
    R("GET", "/api/auth/sessions", ADMIN),
    R("DELETE", "/api/auth/sessions/{session_id}", ADMIN, ok=204),
    R("GET", "/api/auth/api-keys", ADMIN),
    R(
        "POST",
        "/api/auth/api-keys",
        ADMIN,
        ok=201,
        body={"name": "m-scratch-key", "department": "fisheries", "roles": ["department_viewer"]},
        audit=("api_key.create", "ok"),
    ),
    R("POST", "/api/auth/api-keys/{key_id}/rotate", ADMIN, ok=201),
    R("DELETE", "/api/auth/api-keys/{key_id}", ADMIN, ok=204),
    # Cameras: every role sees its department's; administrators every department's.
    R("GET", "/api/cameras", LOGGED_IN, check="cameras", audit=("camera.list", "ok")),
    R("GET", "/api/cameras", LOGGED_IN, query={"group": "port"}, audit=("camera.list", "ok")),
    # Another department's group is as unknown as one that does not exist (422, not []).
    R("GET", "/api/cameras", ADMIN, query={"group": "schools"}, refused=422, refusal_audit="error"),
    R("GET", CAM, LOGGED_IN, target="own", audit=("camera.read", "ok")),
    R("GET", CAM, ADMIN, target="foreign", audit=("camera.read", "ok")),
    # A camera's recorded timeline (playback) follows the camera, like its live view.
    R(
        "GET",
        CAM + "/recordings",
        LOGGED_IN,
        target="own",
        query={"start": 1_799_800_000, "end": 1_799_812_800},
        audit=("recording.list", "ok"),
    ),
    R(
        "GET",
        CAM + "/recordings",
        ADMIN,
        target="foreign",
        query={"start": 1_799_800_000, "end": 1_799_812_800},
        audit=("recording.list", "ok"),
    ),
    # An evidence file follows its camera (the matrix's world writes one for each).
    R("GET", EVIDENCE, LOGGED_IN, target="own", url=EVIDENCE_URL, audit=("evidence.view", "ok")),
    R("GET", EVIDENCE, ADMIN, target="foreign", url=EVIDENCE_URL, audit=("evidence.view", "ok")),
    # Exports (signed packages): searchers, of evidence on cameras they see; the instance's
    # public key to anyone logged in. A download follows the package's camera (the newest
    # package of the target's camera, exported by the rows before); an unknown id is a 404,
    # audited.
    R(
        "POST",
        EXPORTS,
        SEARCHERS,
        ok=201,
        target="own",
        body=export_of("fishing-port-quay"),
        audit=("evidence.export", "ok"),
    ),
    R(
        "POST",
        EXPORTS,
        ADMIN,
        ok=201,
        target="foreign",
        body=export_of("school-gate"),
        audit=("evidence.export", "ok"),
    ),
    R(
        "GET",
        EXPORTS + "/{export_id}",
        SEARCHERS,
        target="own",
        audit=("evidence.download", "ok"),
    ),
    R(
        "GET",
        EXPORTS + "/{export_id}",
        ADMIN,
        target="foreign",
        audit=("evidence.download", "ok"),
    ),
    R(
        "GET",
        EXPORTS + "/{export_id}",
        SEARCHERS,
        ok=404,
        url=EXPORTS + "/ex-20261207-000000000000",
        audit=("evidence.download", "error"),
    ),
    R("GET", "/api/evidence/key", LOGGED_IN, audit=("evidence.key", "ok")),
    # Locks keep evidence past retention: searchers lock what they see, administrators
    # release (the own file's lock, made by the row before).
    R(
        "POST",
        LOCKS,
        SEARCHERS,
        ok=201,
        target="own",
        body=export_of("fishing-port-quay"),
        audit=("evidence.lock", "ok"),
    ),
    R(
        "POST",
        LOCKS,
        ADMIN,
        ok=201,
        target="foreign",
        body=export_of("school-gate"),
        audit=("evidence.lock", "ok"),
    ),
    R("GET", LOCKS, SEARCHERS, audit=("evidence.locks.list", "ok")),
    R(
        "DELETE",
        LOCKS + "/{ref:path}",
        ADMIN,
        ok=204,
        url=LOCKS + "/events/fishing-port-quay/20261207/m-evidence.jpg",
        audit=("evidence.unlock", "ok"),
    ),
    R("GET", "/api/groups", LOGGED_IN, check="groups"),
    R("POST", CAM + "/viewer-token", LOGGED_IN, target="own", audit=("camera.view", "ok")),
    R("POST", CAM + "/viewer-token", ADMIN, target="foreign", audit=("camera.view", "ok")),
    # The relay's recheck of playing views takes its service token, nobody else's.
    R(
        "POST",
        "/api/cameras/viewer-tokens/check",
        ANYONE,
        ok=401,
        body={"tokens": []},
        audit=("relay.recheck", "denied"),
        audit_actor="anonymous",
    ),
    # PTZ: anyone in scope reads it, operators steer; every control audited.
    R("GET", PTZ, LOGGED_IN, target="own", audit=("ptz.status", "ok")),
    R("GET", PTZ, ADMIN, target="foreign", audit=("ptz.status", "ok")),
    R("POST", PTZ + "/move", HANDLERS, target="own", body=MOVE, audit=("camera.ptz.move", "ok")),
    R("POST", PTZ + "/move", ADMIN, target="foreign", body=MOVE),
    R("POST", PTZ + "/start", HANDLERS, target="own", body={"pan": 0.1, "timeout_s": 0.5}),
    R("POST", PTZ + "/start", ADMIN, target="foreign", body={"pan": 0.1, "timeout_s": 0.5}),
    R("POST", PTZ + "/step", HANDLERS, target="own", body={"pan": 0.05}),
    R("POST", PTZ + "/step", ADMIN, target="foreign", body={"pan": 0.05}),
    R("POST", PTZ + "/stop", HANDLERS, target="own", audit=("camera.ptz.stop", "ok")),
    R("POST", PTZ + "/stop", ADMIN, target="foreign"),
    R("POST", PTZ + "/home", HANDLERS, target="own"),
    R("POST", PTZ + "/home", ADMIN, target="foreign"),
    R("POST", PTZ + "/presets/{token}/goto", HANDLERS, target="own"),
    R("POST", PTZ + "/presets/{token}/goto", ADMIN, target="foreign"),
    R("POST", PTZ + "/presets", HANDLERS, ok=201, target="own", body={"name": "m-preset"}),
    R("POST", PTZ + "/presets", ADMIN, ok=201, target="foreign", body={"name": "m-preset"}),
    # Alarms: those routed to the department; handlers act on them (state reset before each).
    R("GET", "/api/alarms", LOGGED_IN, check="alarms", audit=("alarm.list", "ok")),
    R("GET", ALARM, LOGGED_IN, target="own", audit=("alarm.read", "ok")),
    R("GET", ALARM, ADMIN, target="foreign", audit=("alarm.read", "ok")),
    R("POST", ALARM + "/ack", HANDLERS, target="own", body={}, audit=("alarm.ack", "ok")),
    R("POST", ALARM + "/ack", ADMIN, target="foreign", body={}, audit=("alarm.ack", "ok")),
    R("POST", ALARM + "/resolve", HANDLERS, target="own", body={}),
    R("POST", ALARM + "/resolve", ADMIN, target="foreign", body={}),
    R("POST", ALARM + "/false-alarm", HANDLERS, target="own", body={}),
    R("POST", ALARM + "/false-alarm", ADMIN, target="foreign", body={}),
    R("POST", ALARM + "/comments", HANDLERS, target="own", body={"comment": "seen"}),
    R("POST", ALARM + "/comments", ADMIN, target="foreign", body={"comment": "seen"}),
    R(WS, "/api/alarms/live", LOGGED_IN, ok=HELLO, audit=("socket.open", "ok")),
    # Another department's stream: administrators only; the attempt audited.
    R(
        WS,
        "/api/alarms/live",
        ADMIN,
        ok=HELLO,
        refused=4403,
        query={"department": "education"},
    ),
    R(WS, "/api/live", LOGGED_IN, ok=HELLO, audit=("socket.open", "ok")),
    # Rules: another department's is a 404 (as if absent), not a 403 confirming its id.
    R("GET", "/api/rules", LOGGED_IN, check="rules"),
    R("GET", "/api/rules/{rule_id}", LOGGED_IN, target="own"),
    R("GET", "/api/rules/{rule_id}", ADMIN, target="foreign", refused=404),
    R("PUT", "/api/rules/{rule_id}", ADMIN, body=RULE, url="/api/rules/m-scratch"),
    R("DELETE", "/api/rules/{rule_id}", ADMIN, ok=204, url="/api/rules/m-scratch"),
    # Search: investigators, within their scope; every search audited.
    R(
        "GET",
        "/api/sightings",
        SEARCHERS,
        query={"plate": "皖S·12345", "case": CASE, **SPAN},
        check="sightings",
        audit=("search.plate", "ok"),
    ),
    R(
        "GET",
        "/api/sightings",
        ADMIN,
        query={"plate": "皖S·12345", "camera": "school-gate", "case": CASE, **SPAN},
        audit=("search.plate", "ok"),
    ),
    # Not a photo: a searcher gets as far as reading it (422).
    R("POST", "/api/sightings/face", SEARCHERS, ok=422, form={"case": CASE, **SPAN_FORM}),
    R(
        "POST",
        "/api/sightings/face",
        ADMIN,
        ok=422,
        form={"camera": "school-gate", "case": CASE, **SPAN_FORM},
    ),
    # Administration.
    R("GET", "/api/users", ADMIN),
    R(
        "POST",
        "/api/users",
        ADMIN,
        ok=201,
        body={
            "username": "m-created",
            "password": "m-created-pass",
            "department": "fisheries",
            "roles": ["department_viewer"],
        },
        audit=("user.create", "ok"),
    ),
    R("GET", "/api/users/{user_id}", ADMIN),
    R("PATCH", "/api/users/{user_id}", ADMIN, body={"display_name": "Matrix viewer"}),
    R("GET", "/api/departments", LOGGED_IN),
    R("POST", "/api/departments", ADMIN, ok=201, body={"id": "m-dept", "name": "Matrix"}),
    R("GET", "/api/grants", LOGGED_IN, check="grants"),
    R(
        "POST",
        "/api/grants",
        ADMIN,
        ok=201,
        body={"department": "education", "groups": ["port"], "note": "matrix"},
    ),
    R("DELETE", "/api/grants/{grant_id}", ADMIN, ok=204),
    R("GET", "/api/destinations", ADMIN),
    R(
        "PUT",
        "/api/destinations/{destination_id}",
        ADMIN,
        url="/api/destinations/m-desk",
        body={
            "name": "Desk",
            "department": "fisheries",
            "kind": "webhook",
            "url": "http://127.0.0.1:9/hook",
        },
    ),
    R("GET", "/api/deliveries", ADMIN),
    R("GET", "/api/cluster", ADMIN),
    # GB/T 28181 devices, scoped by channel (test_gb28181_api.py: a department's own).
    R(
        "GET",
        "/api/gb28181/devices",
        LOGGED_IN,
        check="gb28181",
        audit=("gb28181.device.list", "ok"),
    ),
    R("GET", GB, ADMIN, refused=404, url=GB_URL, audit=("gb28181.device.read", "ok")),
    R(
        "POST",
        GB + "/query",
        ADMIN,
        ok=202,
        url=GB_URL + "/query",
        audit=("gb28181.device.query", "ok"),
    ),
    R(
        "POST",
        "/api/deliveries/{delivery_id}/retry",
        ADMIN,
        ok=404,
        url="/api/deliveries/999/retry",
    ),
    R("GET", "/api/audit", ADMIN),
    R("GET", "/api/audit/verify", ADMIN, check="verify"),
    R("POST", "/api/audit/anchor", ADMIN),
)


def expected(row: Row, caller: Caller, websocket: bool) -> int:
    """What `caller` must get from `row`."""
    if caller in row.allow:
        return row.ok
    if caller in NO_CREDENTIAL:
        return 4401 if websocket else 401
    return row.refused
