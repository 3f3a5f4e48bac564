"""Alarm rules: which events become alarms, how severe, for whom, how often.

A rule matches an event when every given condition holds: event type, camera selector
(cameras OR groups OR tags; none given = every camera), zone/line, time window in the
rule's timezone, minimum score and value. The alarm goes to the rule's departments.

The model lives in the core because rules are part of the fleet's configuration: the
registry's `alarm_rules` section holds the district's routing matrix (validated with the
rest of the file, references checked, reloaded on edit), and the command API stores those
rules alongside the ones administrators add through `/api/rules`.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import TYPE_CHECKING, Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from sharpeye.contracts.events import Event, SeverityName, severity_of

if TYPE_CHECKING:
    # The registry's schema holds these rules, so Camera cannot be imported at run time.
    from sharpeye.registry.schema import Camera

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_HHMM_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _check_id(value: str) -> str:
    if not _ID_RE.match(value):
        raise ValueError("1-64 characters of a-z, 0-9, '.', '_' or '-'")
    return value


def _check_hhmm(value: str) -> str:
    if not _HHMM_RE.match(value):
        raise ValueError("a time of day as HH:MM (00:00-23:59)")
    return value


RuleId = Annotated[str, AfterValidator(_check_id)]
HHMM = Annotated[str, AfterValidator(_check_hhmm)]


class TimeWindow(BaseModel):
    """When the rule is armed; `end` before `start` spans midnight (22:00-06:00)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: list[Annotated[int, Field(ge=0, le=6)]] = Field(
        default=[0, 1, 2, 3, 4, 5, 6],
        min_length=1,
        description="Days the window starts on, 0 = Monday.",
    )
    start: HHMM = Field(description="Start, HH:MM local time.")
    end: HHMM = Field(description="End, HH:MM local time (exclusive).")

    def contains(self, local: datetime) -> bool:
        start = time.fromisoformat(self.start)
        end = time.fromisoformat(self.end)
        t = local.time()
        if start <= end:
            return local.weekday() in self.days and start <= t < end
        # Overnight: the part after midnight belongs to the window that started yesterday.
        if t >= start:
            return local.weekday() in self.days
        return t < end and (local.weekday() - 1) % 7 in self.days


class RuleSpec(BaseModel):
    """An alarm rule, as written in the registry's `alarm_rules`, given to the API, stored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: RuleId = Field(description="Rule id.")
    name: str = Field(min_length=1, max_length=200, description="Display name.")
    event_types: list[str] = Field(min_length=1, description="Event types that trigger it.")
    cameras: list[str] = Field(default_factory=list, description="Camera ids.")
    groups: list[str] = Field(default_factory=list, description="Camera group ids.")
    tags: list[str] = Field(default_factory=list, description="Camera tags.")
    zones: list[str] = Field(
        default_factory=list, description="Zone or line ids; empty = anywhere in the image."
    )
    windows: list[TimeWindow] = Field(
        default_factory=list, description="When it is armed; empty = always."
    )
    timezone: str = Field(default="Asia/Shanghai", description="IANA zone of the windows.")
    min_score: float = Field(default=0.0, ge=0.0, le=1.0, description="Minimum confidence.")
    min_value: float | None = Field(
        default=None, description="Threshold on the event's value (people, seconds...)."
    )
    min_severity: SeverityName | None = Field(
        default=None, description="Ignore events the producer rated below this."
    )
    severity: SeverityName | None = Field(
        default=None, description="The alarm's severity; None keeps the event's."
    )
    cooldown_s: float = Field(
        default=60.0,
        ge=0.0,
        le=86400.0,
        description="Events with the same dedupe key within this many seconds of the "
        "previous one merge into the same alarm.",
    )
    departments: list[str] = Field(min_length=1, description="Departments to route to.")
    escalate_after_s: float | None = Field(
        default=300.0,
        gt=0.0,
        description="Escalate when not acknowledged within this many seconds; None never.",
    )
    enabled: bool = True
    # The alarm's clip: the ingest worker that raised the event keeps the camera's last
    # seconds in memory (whole GOPs) and cuts this window around the event.
    clip_before_s: float = Field(
        default=10.0, ge=0.0, le=60.0, description="Seconds of video before the event."
    )
    clip_after_s: float = Field(
        default=10.0, ge=0.0, le=60.0, description="Seconds of video after the event."
    )

    @field_validator("timezone")
    @classmethod
    def verify_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (use an IANA name)") from None
        return value

    @model_validator(mode="after")
    def verify_no_duplicates(self) -> Self:
        if len(set(self.departments)) != len(self.departments):
            raise ValueError("departments are listed twice")
        return self

    def selects(self, camera: Camera) -> bool:
        if not (self.cameras or self.groups or self.tags):
            return True
        return (
            camera.id in self.cameras
            or not set(self.groups).isdisjoint(camera.groups)
            or not set(self.tags).isdisjoint(camera.tags)
        )

    def armed_at(self, t: float) -> bool:
        if not self.windows:
            return True
        local = datetime.fromtimestamp(t, ZoneInfo(self.timezone))
        return any(w.contains(local) for w in self.windows)

    def matches(self, event: Event, camera: Camera) -> bool:
        if not self.enabled or event.event_type not in self.event_types:
            return False
        if event.score < self.min_score:
            return False
        if self.min_value is not None and (event.value is None or event.value < self.min_value):
            return False
        if self.min_severity is not None and severity_of(event.severity) < severity_of(
            self.min_severity
        ):
            return False
        if self.zones and event.zone_id not in self.zones and event.line_id not in self.zones:
            return False
        return self.selects(camera) and self.armed_at(event.occurred_at)

    def alarm_severity(self, event: Event) -> SeverityName:
        return self.severity or event.severity
