"""Analytics events: what a detector or rule saw on a camera, sent to the command API.

Producers (analytics, ingest, tests) append one entry per event to the Redis Stream
`EVENTS_STREAM` with `event.to_stream_fields()`; the command API reads it with a consumer
group, turns events into alarms through its alarm rules and acknowledges each entry only
after the alarm is stored. The entry holds one field, `event`, the model as JSON: readers
in any language parse it without pickles.

    await redis.xadd(EVENTS_STREAM, event.to_stream_fields(),
                     maxlen=EVENTS_STREAM_MAXLEN, approximate=True)

Delivery is at least once: a producer that retries may send the same `event_id` twice, and
the consumer stores it once. Events carry no credentials and no stream URLs.
"""

from __future__ import annotations

import re
import uuid
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

EVENTS_STREAM = "sharpeye:events"
# Approximate trim length: at 200 events/s about 80 minutes of history, enough to ride out
# an API that is down; the consumer group's pending list is what guarantees delivery. While
# the API runs it trims what it has acknowledged (command_api.alarms.stream_trim), so this
# cap is reached only when no one consumes.
EVENTS_STREAM_MAXLEN = 1_000_000
# The single field of a stream entry; its value is `Event.model_dump_json()`.
EVENT_FIELD = "event"

_TOKEN_RE = re.compile(r"^[a-z0-9][a-z0-9._:-]{0,127}$")


def _check_token(value: str) -> str:
    if not _TOKEN_RE.match(value):
        raise ValueError("1-128 characters of a-z, 0-9, '.', '_', ':' or '-', starting with a-z0-9")
    return value


Token = Annotated[str, AfterValidator(_check_token)]


class EventType(StrEnum):
    """Event types known to the platform's rules; producers may send others (any `Token`).

    Rules match `event_type` as a string, so a new detector needs no change here.
    """

    FIRE = "fire"
    SMOKE = "smoke"
    CROWD = "crowd"
    INTRUSION = "intrusion"
    LINE_CROSSING = "line_crossing"
    BOAT_DEPARTURE = "boat_departure"
    LOITERING = "loitering"
    WATCHLIST_FACE = "watchlist_face"
    WATCHLIST_PLATE = "watchlist_plate"
    CLONED_PLATE = "cloned_plate"
    CAMERA_OFFLINE = "camera_offline"
    # The platform's own faults on a camera (ingest.recording_events): routed to the
    # camera's owning department by a built-in rule (command_api.alarms.system_rules).
    RECORDING_FAILED = "recording_failed"
    RECORDING_RESUMED = "recording_resumed"  # ends the failure: its alarm is resolved


class Severity(IntEnum):
    """Ordered: rules compare with >=; JSON carries the name (`"high"`)."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


SeverityName = Literal["info", "low", "medium", "high", "critical"]


def severity_of(name: SeverityName) -> Severity:
    return Severity[name.upper()]


class Box(BaseModel):
    """A box in normalised image coordinates: (0, 0) top-left, (1, 1) bottom-right."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    x1: float = Field(ge=0.0, le=1.0)
    y1: float = Field(ge=0.0, le=1.0)
    x2: float = Field(ge=0.0, le=1.0)
    y2: float = Field(ge=0.0, le=1.0)


class EvidenceRef(BaseModel):
    """Where the proof of an event is kept; a reference, never the bytes themselves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["snapshot", "clip", "frame", "crop"] = Field(description="What it points at.")
    ref: str = Field(
        min_length=1,
        max_length=512,
        description="Storage reference relative to the evidence store "
        "(e.g. 'snapshots/forest-lookout-1/2026-11-25T09:30:00.123Z.jpg'); never a camera URL.",
    )
    at: float | None = Field(default=None, description="Unix time of the frame, if known.")
    box: Box | None = Field(default=None, description="Region of interest in the frame.")


class Event(BaseModel):
    """One event on one camera, as analytics saw it (contract version 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = Field(default=1, description="Contract version.")
    event_id: str = Field(
        default_factory=lambda: uuid.uuid4().hex,
        min_length=1,
        max_length=64,
        description="Unique per event, set by the producer; repeats are stored once.",
    )
    event_type: Token = Field(description="What happened: an `EventType` value or a new token.")
    camera_id: str = Field(min_length=1, max_length=64, description="Registry camera id.")
    occurred_at: float = Field(gt=0, description="Unix time of the frame that showed it.")
    severity: SeverityName = Field(
        default="medium", description="The producer's estimate; a rule may override it."
    )
    score: float = Field(default=1.0, ge=0.0, le=1.0, description="Detector confidence.")
    value: float | None = Field(
        default=None,
        description="The measured quantity rules compare to a threshold: people in a crowd "
        "zone, seconds loitering, fire area fraction; None when the type has none.",
    )
    zone_id: str | None = Field(default=None, max_length=64, description="Registry zone id.")
    line_id: str | None = Field(default=None, max_length=64, description="Registry line id.")
    track_id: int | None = Field(default=None, ge=0, description="Tracker id of the object.")
    label: str | None = Field(
        default=None,
        max_length=200,
        description="Human label: watchlist entry, plate text, object class.",
    )
    dedupe_key: Token | None = Field(
        default=None,
        description="Same key = same incident (e.g. one track in one zone); alarms within a "
        "rule's cooldown that share it are merged. Default: type:camera:zone-or-line.",
    )
    evidence: list[EvidenceRef] = Field(default_factory=list, max_length=16)
    node_id: str | None = Field(default=None, max_length=64, description="Producing node.")
    fence: int | None = Field(
        default=None,
        ge=1,
        description="Fencing token of the producing worker's lease on the camera: an event "
        "from after that lease passed to another worker is refused (sharpeye.bus.fencing).",
    )
    attributes: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Small extras shown with the alarm (at most 32)."
    )

    @model_validator(mode="after")
    def verify_small_attributes(self) -> Self:
        if len(self.attributes) > 32:
            raise ValueError("at most 32 attributes")
        return self

    @property
    def effective_dedupe_key(self) -> str:
        if self.dedupe_key is not None:
            return self.dedupe_key
        where = self.zone_id or self.line_id or ""
        return f"{self.event_type}:{self.camera_id}:{where}"

    def to_stream_fields(self) -> dict[str, str]:
        """The fields of this event's entry on `EVENTS_STREAM`."""
        return {EVENT_FIELD: self.model_dump_json(exclude_none=True)}

    @classmethod
    def from_stream_fields(cls, fields: dict[Any, Any]) -> Event:
        """Parse an entry read with or without `decode_responses`; ValueError if malformed."""
        raw = fields.get(EVENT_FIELD, fields.get(EVENT_FIELD.encode()))
        if raw is None:
            raise ValueError(f"stream entry has no {EVENT_FIELD!r} field")
        return cls.model_validate_json(raw)
