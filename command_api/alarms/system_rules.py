"""The platform's own alarm rules: faults of the platform on a camera (its recording stopped:
disk full, read-only, gone), raised for the department that owns the camera whether or not
a registry rule names the event. Nobody has to remember to route a failing disk: the
camera's owner is who must act (call the node's operators, keep the evidence elsewhere).

A built-in rule is made per event, its one department the camera's `department` in the
registry, so it goes through the same matching, dedupe, routing, escalation and delivery
as any rule (`lifecycle.ingest_events`). Its id has a ':' that registry and API rule ids
cannot have (`sharpeye.registry.alarm_rules.RuleId`), so none can take it over.

Differences from other rules, both because a fault has an end the platform sees:
- the event that ends the fault (`ENDED_BY`) resolves its open alarm on that camera;
- a fault after its alarm was resolved is a new alarm, not merged into the closed one
  (within the cooldown an ordinary rule would merge it, and the new failure would go unseen).
"""

from __future__ import annotations

from sharpeye.contracts.alarms import AlarmState
from sharpeye.contracts.events import Event, EventType
from sharpeye.registry import Camera
from sharpeye.registry.alarm_rules import RuleSpec

PREFIX = "system:"
RECORDING_FAILED_RULE = f"{PREFIX}recording-failed"
# The event type that ends each system rule's fault: rule id -> event type.
ENDED_BY = {RECORDING_FAILED_RULE: EventType.RECORDING_RESUMED.value}

# A disk failing again while its alarm is open (a worker restarted, another one took the
# camera) merges into that alarm for up to a day.
_COOLDOWN_S = 86400.0
_CLOSED = frozenset({AlarmState.RESOLVED.value, AlarmState.FALSE_ALARM.value})


def system_rules(event: Event, camera: Camera) -> list[RuleSpec]:
    """The built-in rules `event` on `camera` matches (at most one)."""
    if event.event_type != EventType.RECORDING_FAILED:
        return []
    why = (event.label or "").strip()
    name = f"Recording stopped ({why[:120]})" if why else "Recording stopped"
    # model_construct: the id is deliberately not a valid RuleId (see the module's note);
    # every other field is given here and is valid.
    return [
        RuleSpec.model_construct(
            id=RECORDING_FAILED_RULE,
            name=name,
            event_types=[EventType.RECORDING_FAILED.value],
            cameras=[camera.id],
            departments=[camera.department],
            severity="high",
            cooldown_s=_COOLDOWN_S,
            escalate_after_s=300.0,
            clip_before_s=0.0,
            clip_after_s=0.0,
        )
    ]


def starts_anew(rule: RuleSpec, previous_state: str) -> bool:
    """Whether an event of `rule` must not merge into its previous alarm in this state."""
    return rule.id.startswith(PREFIX) and previous_state in _CLOSED
