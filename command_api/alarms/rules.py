"""Alarm rules as the command API applies them (the model is the registry's, see
`sharpeye.registry.alarm_rules`): the registry's and administrators' rules, then the
platform's own (`command_api.alarms.system_rules`)."""

from __future__ import annotations

from command_api.alarms.system_rules import system_rules
from sharpeye.contracts.events import Event
from sharpeye.registry import Camera
from sharpeye.registry.alarm_rules import RuleSpec, TimeWindow

__all__ = ["RuleSpec", "TimeWindow", "matching_rules"]


def matching_rules(rules: list[RuleSpec], event: Event, camera: Camera) -> list[RuleSpec]:
    return [r for r in rules if r.matches(event, camera)] + system_rules(event, camera)
