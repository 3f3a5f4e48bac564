"""Roles say what a caller may do; the department says which cameras and alarms."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    # Manages users, departments, grants, rules and destinations; reads the audit log;
    # sees every department's cameras and alarms (the district's command centre).
    ADMINISTRATOR = "administrator"
    # Watches the wall: live views, acknowledges and resolves alarms.
    WALL_OPERATOR = "wall_operator"
    # Searches sightings (plates, faces) and reviews evidence.
    INVESTIGATOR = "investigator"
    # Read-only: the department's cameras and alarms.
    DEPARTMENT_VIEWER = "department_viewer"
    # Receives escalations and acknowledges/resolves alarms.
    DUTY_OFFICER = "duty_officer"


# Roles allowed to change an alarm's state (acknowledge, resolve, false alarm, comment).
ALARM_HANDLERS = frozenset({Role.ADMINISTRATOR, Role.WALL_OPERATOR, Role.DUTY_OFFICER})
# Roles allowed to search sightings.
SEARCHERS = frozenset({Role.ADMINISTRATOR, Role.INVESTIGATOR})
# Roles allowed a live view (relay token).
VIEWERS = frozenset(Role)
# Roles allowed to steer a PTZ camera (move, presets): those who watch and act on the wall.
# Everyone else in scope may read its position and presets.
PTZ_OPERATORS = frozenset({Role.ADMINISTRATOR, Role.WALL_OPERATOR, Role.DUTY_OFFICER})
