"""The event and alarm contracts: round trips through a stream entry, validation, visibility."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from sharpeye.contracts.alarms import Alarm, AlarmMessage, AlarmState, alarm_visible_to
from sharpeye.contracts.events import EVENT_FIELD, Event, EvidenceRef, Severity, severity_of


def _event(**kw: Any) -> Event:
    fields: dict[str, Any] = {
        "event_type": "fire",
        "camera_id": "forest-lookout-1",
        "occurred_at": 1.0e9,
    }
    fields.update(kw)
    return Event.model_validate(fields)


def test_stream_round_trip_bytes_and_str() -> None:
    event = _event(evidence=[{"kind": "snapshot", "ref": "snapshots/a.jpg"}], value=0.2)
    fields = event.to_stream_fields()
    assert list(fields) == [EVENT_FIELD]
    assert Event.from_stream_fields(fields) == event
    encoded = {k.encode(): v.encode() for k, v in fields.items()}
    assert Event.from_stream_fields(encoded) == event


@pytest.mark.parametrize(
    ("fields", "exception"),
    [
        ({"event_type": "Fire!"}, ValidationError),
        ({"occurred_at": 0}, ValidationError),
        ({"score": 1.5}, ValidationError),
        ({"severity": "urgent"}, ValidationError),
        ({"surprise": 1}, ValidationError),
        ({"attributes": {f"k{i}": i for i in range(33)}}, ValidationError),
        ({"evidence": [{"kind": "snapshot", "ref": ""}]}, ValidationError),
    ],
)
def test_invalid_events(fields: dict[str, Any], exception: type[Exception]) -> None:
    with pytest.raises(exception):
        _event(**fields)


def test_missing_field_in_entry() -> None:
    with pytest.raises(ValueError, match="no 'event' field"):
        Event.from_stream_fields({"other": "{}"})


def test_dedupe_key_default_and_given() -> None:
    assert _event(zone_id="crowd").effective_dedupe_key == "fire:forest-lookout-1:crowd"
    assert _event(dedupe_key="track:7").effective_dedupe_key == "track:7"
    assert _event().event_id != _event().event_id


def test_severity_order() -> None:
    assert severity_of("critical") > severity_of("high") > Severity.INFO


def test_alarm_visibility() -> None:
    alarm = Alarm(
        id=1,
        rule_id="fire",
        event_type="fire",
        camera_id="c",
        camera_name="C",
        title="Fire",
        severity="critical",
        state=AlarmState.NEW,
        departments=["forestry", "police"],
        dedupe_key="k",
        occurred_at=1.0,
        last_event_at=1.0,
        created_at=1.0,
        updated_at=1.0,
        event_count=1,
        escalation_level=0,
        evidence=[EvidenceRef(kind="clip", ref="c/1.mp4")],
    )
    assert alarm_visible_to(alarm, "police")
    assert not alarm_visible_to(alarm, "tourism")
    assert alarm_visible_to(alarm, "tourism", administrator=True)
    message = AlarmMessage(change="created", alarm=alarm)
    assert AlarmMessage.model_validate_json(message.model_dump_json()) == message
