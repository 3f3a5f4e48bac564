"""The camera registry's schema: one pydantic model per YAML section.

Models are frozen snapshots: a reload builds a new `Registry`, it never edits one in place.
Checks within one section live on the models; checks across sections (references, unique
ids) are the `verify_*` functions in `sharpeye.registry.verify`, so the loader can report all
of them at once with line numbers.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from sharpeye.registry.alarm_rules import RuleSpec
from sharpeye.registry.fingerprint import normalize_fingerprint
from sharpeye.registry.gb28181 import Gb28181Config
from sharpeye.registry.geometry import polygon_problem
from sharpeye.registry.recording import Recording, recording_of
from sharpeye.registry.urls import check_stream_url

# Context flag set by the loader: it runs the cross-section checks itself to collect them all.
DEFER_CROSS_CHECKS = "defer_cross_checks"

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def registry_error(message: str, field: str | None = None) -> PydanticCustomError:
    """A validation error; `field` lets a model-level check point at one of its keys."""
    # The loader appends ctx["field"] to the error location to find the right YAML line.
    return PydanticCustomError("registry", message, {"field": field} if field else None)


def _check_id(value: str) -> str:
    if not _ID_RE.match(value):
        raise registry_error(
            "ids are 1-64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit"
        )
    return value


def _check_url(value: str) -> str:
    try:
        return check_stream_url(value)
    except ValueError as exc:
        raise registry_error(str(exc)) from None


Id = Annotated[str, AfterValidator(_check_id)]
RtspUrl = Annotated[str, AfterValidator(_check_url)]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]
# A point in normalised image coordinates: (0, 0) is the top-left corner, (1, 1) bottom-right.
NormPoint = tuple[Unit, Unit]

DepartmentKind = Literal[
    "police",
    "education",
    "fisheries",
    "forestry",
    "city_management",
    "tourism",
    "food_safety",
    "transport",
    "emergency",
    "other",
]


class RegistryModel(BaseModel):
    """Base of every section: unknown keys are errors (a typo must not silently do nothing)."""

    # hide_input_in_errors: a rejected URL or credentials block may hold a password, and a
    # ValidationError's text would otherwise quote it.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class District(RegistryModel):
    id: Id = Field(description="Short id of the district this registry covers.")
    name: str = Field(min_length=1, description="Display name.")


class Department(RegistryModel):
    id: Id = Field(description="Department id, referenced by cameras, groups and grants.")
    name: str = Field(min_length=1, description="Display name.")
    kind: DepartmentKind = Field(description="What the department does.")
    parent: str | None = Field(
        default=None, description="Id of the department this one belongs to."
    )


class CameraGroup(RegistryModel):
    id: Id = Field(description="Group id, referenced by cameras and grants.")
    name: str = Field(min_length=1, description="Display name.")
    department: str = Field(description="Owning department: it sees the group's cameras.")
    description: str = Field(default="", description="Free text.")
    recording: Recording | None = Field(
        default=None, description="Record the group's cameras (a camera's own block wins)."
    )


class Location(RegistryModel):
    lat: float = Field(ge=-90.0, le=90.0, description="Latitude, WGS84 degrees.")
    lon: float = Field(ge=-180.0, le=180.0, description="Longitude, WGS84 degrees.")
    address: str = Field(default="", description="Postal address or landmark, any language.")
    road: Literal["urban", "arterial", "expressway"] = Field(
        default="urban",
        description="The class of road the camera watches: how fast a vehicle may plausibly "
        "travel from it (cloned-plate checks).",
    )


class Streams(RegistryModel):
    main: RtspUrl = Field(description="Full-resolution stream, used for recording and analysis.")
    sub: RtspUrl | None = Field(default=None, description="Low-resolution stream for video walls.")


class CredentialRef(RegistryModel):
    """Where a password lives; the registry itself never holds one."""

    username: str | None = Field(default=None, description="User name, if not secret.")
    username_env: str | None = Field(
        default=None, description="Environment variable with the user."
    )
    password_env: str | None = Field(
        default=None, description="Environment variable with the password."
    )
    secret: str | None = Field(
        default=None,
        description="Key in the secrets file (SHARPEYE_SECRETS_FILE) with the credentials.",
    )
    allow_basic_on_plain_rtsp: bool = Field(
        default=False,
        description="Send the password by RTSP Basic authentication over plain rtsp:// when "
        "the camera offers nothing better. Basic sends it in clear text, readable by anyone "
        "on the path, so it is refused unless this is set; prefer Digest or rtsps://.",
    )

    @model_validator(mode="before")
    @classmethod
    def reject_inline_password(cls, data: Any) -> Any:
        if isinstance(data, dict) and "password" in data:
            raise registry_error(
                "inline passwords are not allowed: use password_env: ENV_VAR "
                "or secret: KEY (in the secrets file named by SHARPEYE_SECRETS_FILE)",
                field="password",
            )
        return data

    @model_validator(mode="after")
    def verify_one_source(self) -> Self:
        if (self.password_env is None) == (self.secret is None):
            raise registry_error("give exactly one of password_env or secret")
        if self.username is not None and self.username_env is not None:
            raise registry_error("give username or username_env, not both", field="username_env")
        return self


class CameraTls(RegistryModel):
    """Whom to trust for the camera's rtsps:// streams (RTSP over TLS).

    Without this block the certificate must chain to the system CA store and name the URL's
    host. Cameras usually carry certificates of a private CA: give its bundle in `ca_file`.
    A self-signed camera is accepted by pinning its certificate (`sha256`), never by
    switching verification off: a pin still keeps out a man in the middle.
    """

    ca_file: str | None = Field(
        default=None,
        description="Absolute path of a PEM bundle of the CAs trusted for this camera "
        "(instead of the system store).",
    )
    sha256: str | None = Field(
        default=None,
        description="SHA-256 fingerprint of the camera's own certificate, AB:CD:... as "
        "`openssl x509 -noout -fingerprint -sha256` prints it; accepts exactly that "
        "certificate (self-signed included) and checks neither CA nor host name.",
    )

    @field_validator("ca_file")
    @classmethod
    def absolute_ca_file(cls, value: str | None) -> str | None:
        # Ingest and relay may run from other directories (containers): relative is ambiguous.
        if value is not None and not value.startswith("/"):
            raise registry_error("give an absolute path (ingest and relay run elsewhere)")
        return value

    @field_validator("sha256")
    @classmethod
    def fingerprint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            normalize_fingerprint(value)
        except ValueError as exc:
            raise registry_error(str(exc)) from None
        return value

    @model_validator(mode="after")
    def one_trust(self) -> Self:
        if self.ca_file is not None and self.sha256 is not None:
            raise registry_error("give ca_file or sha256, not both", field="sha256")
        return self


class CameraIngest(RegistryModel):
    """Which RTSP client ingest reads the camera with.

    Sharpeye's own client is lean (hundreds of cameras per core) but speaks RTP over TCP
    only and parses strictly; FFmpeg's (through PyAV) reads what it cannot, at the price of
    a thread per camera. `auto` switches a camera to FFmpeg only when ours finds the camera
    is not for it, never on network or login errors.
    """

    reader: Literal["auto", "native", "pyav"] = Field(
        default="auto",
        description="auto: the native client, switching to pyav when the camera refuses RTP "
        "over TCP (461 on SETUP, UDP-only firmwares) or answers what it cannot parse; native: "
        "never switch (such a camera stays offline, saying why); pyav: FFmpeg's client "
        "from the start.",
    )
    transport: Literal["auto", "tcp", "udp"] = Field(
        default="auto",
        description="RTP transport of the pyav reader: auto tries TCP and takes UDP when the "
        "camera refuses TCP; tcp or udp forces one. The native reader always uses TCP.",
    )

    @model_validator(mode="after")
    def transport_for_pyav(self) -> Self:
        if self.reader == "native" and self.transport != "auto":
            raise registry_error(
                "transport applies to the pyav reader; the native reader always uses TCP "
                "(use reader: pyav or auto)",
                field="transport",
            )
        return self


class OnvifEndpoint(RegistryModel):
    host: str = Field(min_length=1, description="Device host name or IP address.")
    port: int = Field(default=80, ge=1, le=65535, description="Device service port.")
    credentials: CredentialRef | None = Field(default=None, description="Device login.")
    profile: str | None = Field(
        default=None, description="Media profile token; None takes the first."
    )


class Sampling(RegistryModel):
    mode: Literal["off", "keyframes", "fps"] = Field(
        default="keyframes",
        description="Which frames analysis sees: none, keyframes only, or a rate.",
    )
    fps: float | None = Field(default=None, gt=0.0, le=30.0, description="Rate when mode is 'fps'.")

    @field_validator("mode", mode="before")
    @classmethod
    def unquoted_off(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare `off` as the boolean false; that is what the user meant.
        return "off" if value is False else value

    @model_validator(mode="after")
    def verify_fps(self) -> Self:
        if self.mode == "fps" and self.fps is None:
            raise registry_error("fps is required when mode is 'fps'", field="fps")
        if self.mode != "fps" and self.fps is not None:
            raise registry_error(f"fps is only used when mode is 'fps', not {self.mode!r}", "fps")
        return self


class Zone(RegistryModel):
    id: Id = Field(description="Zone id, unique within the camera (zones and lines together).")
    name: str = Field(min_length=1, description="Display name.")
    polygon: list[NormPoint] = Field(
        description="At least 3 [x, y] points, normalised 0..1, not crossing itself."
    )

    @field_validator("polygon")
    @classmethod
    def verify_polygon(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        problem = polygon_problem(points)
        if problem is not None:
            raise registry_error(problem)
        return points


class Line(RegistryModel):
    id: Id = Field(description="Line id, unique within the camera (zones and lines together).")
    name: str = Field(min_length=1, description="Display name.")
    points: tuple[NormPoint, NormPoint] = Field(description="Two distinct [x, y] points, 0..1.")
    direction: Literal["both", "left_to_right", "right_to_left"] = Field(
        default="both", description="Which crossings count, seen walking from the first point."
    )

    @field_validator("points")
    @classmethod
    def verify_distinct(cls, points: tuple[NormPoint, NormPoint]) -> tuple[NormPoint, NormPoint]:
        if points[0] == points[1]:
            raise registry_error("a line needs two distinct points")
        return points


class AnalyticsProfile(RegistryModel):
    profile: str = Field(default="default", description="Named analytics pipeline to run.")
    sampling: Sampling = Field(default_factory=Sampling, description="Which frames to analyse.")
    min_score: float = Field(
        default=0.4, ge=0.0, le=1.0, description="Detections below are dropped."
    )
    zones: list[Zone] = Field(default_factory=list, description="Areas for intrusion/crowding.")
    lines: list[Line] = Field(default_factory=list, description="Lines for crossing counts.")
    plate_watchlist: list[str] = Field(
        default_factory=list,
        description="Plates (皖S12345 or 皖S·12345) whose reading here raises watchlist_plate, "
        "beside the node's analytics.yaml watchlist; needs plate reading (vehicles profile).",
    )

    @field_validator("plate_watchlist")
    @classmethod
    def canonical_plates(cls, plates: list[str]) -> list[str]:
        # Readings are canonical (no separator, upper case): compare like with like. The
        # plate format itself is the analytics' business; the core only tidies the text.
        out = [re.sub(r"[\s·.\-]", "", p).upper() for p in plates]
        bad = [p for p, c in zip(plates, out, strict=True) if not 7 <= len(c) <= 8]
        if bad:
            raise registry_error(f"not a plate (7 or 8 characters): {', '.join(bad)}")
        return out


class Camera(RegistryModel):
    id: Id = Field(description="Camera id, unique in the registry; appears in stream paths.")
    name: str = Field(min_length=1, description="Display name.")
    department: str = Field(description="Owning department.")
    groups: list[str] = Field(default_factory=list, description="Groups the camera belongs to.")
    location: Location = Field(description="Where the camera is.")
    streams: Streams | None = Field(
        default=None, description="RTSP URLs; None if ONVIF supplies them."
    )
    credentials: CredentialRef | None = Field(default=None, description="RTSP login.")
    tls: CameraTls | None = Field(
        default=None, description="Trust for rtsps:// streams: a CA bundle or a pinned cert."
    )
    onvif: OnvifEndpoint | None = Field(default=None, description="ONVIF device of the camera.")
    ingest: CameraIngest = Field(
        default_factory=CameraIngest,
        description="Which RTSP client reads the camera: {reader: auto|native|pyav, "
        "transport: auto|tcp|udp}.",
    )
    analytics: AnalyticsProfile = Field(
        default_factory=AnalyticsProfile, description="What analysis runs on this camera."
    )
    recording: Recording | None = Field(
        default=None,
        description="Record the camera: {enabled, retain_days, segment_s}; none: as its "
        "groups say (sharpeye.registry.recording).",
    )
    tags: list[str] = Field(default_factory=list, description="Free-form labels.")
    enabled: bool = Field(
        default=True, description="False keeps the camera listed but not ingested."
    )

    @model_validator(mode="after")
    def verify_has_source(self) -> Self:
        if self.streams is None and self.onvif is None:
            raise registry_error("a camera needs streams.main or onvif (which supplies the URLs)")
        return self

    @model_validator(mode="after")
    def verify_tls_used(self) -> Self:
        # A tls block on plain rtsp:// streams does nothing: likely a forgotten `s` in a URL.
        # ONVIF devices hand out their URLs at run time, so only named streams are checked.
        if self.tls is not None and self.streams is not None:
            urls = [self.streams.main, self.streams.sub or ""]
            if not any(u.lower().startswith("rtsps://") for u in urls):
                raise registry_error(
                    "tls only applies to rtsps:// streams; these streams are rtsp://",
                    field="tls",
                )
        return self

    @model_validator(mode="after")
    def verify_pyav_not_tls(self) -> Self:
        # FFmpeg's RTSP client would not check the certificate as `tls` says, and there is
        # no switch to turn verification off: rtsps:// stays with the native client.
        if self.ingest.reader == "pyav" and self.streams is not None:
            urls = [self.streams.main, self.streams.sub or ""]
            if any(u.lower().startswith("rtsps://") for u in urls):
                raise registry_error(
                    "the pyav reader cannot verify TLS certificates; rtsps:// streams use the "
                    "native reader (reader: native or auto)",
                    field="ingest",
                )
        return self


class Grant(RegistryModel):
    department: str = Field(description="Department that is granted access.")
    groups: list[str] = Field(min_length=1, description="Groups whose cameras it may see.")
    expires: AwareDatetime | None = Field(
        default=None, description="End of the grant, with a timezone (2026-06-30T23:59:59+08:00)."
    )
    note: str = Field(default="", description="Why the grant exists (case number, agreement).")

    @field_validator("expires", mode="before")
    @classmethod
    def need_timezone(cls, value: Any) -> Any:
        # A bare date or local time is ambiguous across a district's servers and browsers.
        if isinstance(value, date) and (not isinstance(value, datetime) or value.tzinfo is None):
            raise registry_error(
                "give a date and time with a timezone, e.g. 2026-06-30T23:59:59+08:00"
            )
        return value

    def active(self, now: datetime) -> bool:
        return self.expires is None or now < self.expires


class Registry(RegistryModel):
    version: Literal[1] = Field(description="Schema version of this file.")
    district: District = Field(description="The district the registry covers.")
    departments: list[Department] = Field(default_factory=list)
    groups: list[CameraGroup] = Field(default_factory=list)
    cameras: list[Camera] = Field(default_factory=list)
    grants: list[Grant] = Field(default_factory=list)
    alarm_rules: list[RuleSpec] = Field(
        default_factory=list,
        description="The district's alarm routing: which events become alarms for whom "
        "(the command API adds the rules administrators create through /api/rules).",
    )
    gb28181: Gb28181Config | None = Field(
        default=None,
        description="This instance as a GB/T 28181 platform: its SIP ID, domain, listen "
        "address and the devices allowed to register (sharpeye.registry.gb28181).",
    )

    @model_validator(mode="after")
    def verify_cross_references(self, info: ValidationInfo) -> Self:
        if info.context and info.context.get(DEFER_CROSS_CHECKS):
            return self
        # Imported here: verify works on these models, so a top-level import would be circular.
        from sharpeye.registry.verify import describe, verify_all

        found = verify_all(self)
        if found:
            raise registry_error("; ".join(f"{describe(self, loc)}: {msg}" for loc, msg in found))
        return self

    @cached_property
    def cameras_by_id(self) -> dict[str, Camera]:
        return {c.id: c for c in self.cameras}

    @cached_property
    def departments_by_id(self) -> dict[str, Department]:
        return {d.id: d for d in self.departments}

    @cached_property
    def groups_by_id(self) -> dict[str, CameraGroup]:
        return {g.id: g for g in self.groups}

    def recording(self, camera: Camera) -> Recording | None:
        """How the camera is recorded (its own block, else its first group's), or None."""
        return recording_of(camera, self.groups_by_id)

    def camera(self, camera_id: str) -> Camera:
        """The camera with this id; KeyError if there is none."""
        return self.cameras_by_id[camera_id]

    def department(self, department_id: str) -> Department:
        """The department with this id; KeyError if there is none."""
        return self.departments_by_id[department_id]

    def department_cameras(self, department_id: str) -> list[Camera]:
        """Cameras owned by the department, in file order."""
        return [c for c in self.cameras if c.department == department_id]

    def visible_camera_ids(self, department_id: str, now: datetime | None = None) -> set[str]:
        """Ids of the cameras a department may see: its own, plus those in groups it owns or
        holds an unexpired grant for. KeyError for an unknown department (a typo must not
        quietly show nothing)."""
        self.department(department_id)
        now = now or datetime.now(UTC)
        groups = {g.id for g in self.groups if g.department == department_id}
        for grant in self.grants:
            if grant.department == department_id and grant.active(now):
                groups.update(grant.groups)
        return {
            c.id
            for c in self.cameras
            if c.department == department_id or not groups.isdisjoint(c.groups)
        }
