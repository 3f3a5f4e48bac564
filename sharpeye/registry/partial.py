"""Cross checks on a registry whose items partly failed validation.

Reporting every problem in one pass means checking references even when some items are
invalid. Invalid items become placeholders that keep whatever raw ids and references are
usable (strings), so a camera with a bad URL still gets its unknown group reported, and
references *to* an invalid item raise no second, misleading "unknown" problem.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from sharpeye.registry.alarm_rules import RuleSpec
from sharpeye.registry.schema import (
    Camera,
    CameraGroup,
    Department,
    District,
    Grant,
    Location,
    Registry,
)
from sharpeye.registry.verify import Found, Loc, verify_all

_SECTIONS: dict[str, type[BaseModel]] = {
    "departments": Department,
    "groups": CameraGroup,
    "cameras": Camera,
    "grants": Grant,
    "alarm_rules": RuleSpec,
}
# Stands in for an unusable raw value; ids cannot contain NUL, so it matches nothing real,
# and problems about it are dropped (the schema problem for that value is reported).
_NOWHERE = "\0unusable"


def partial_cross_checks(data: dict[str, Any], errors: list[ErrorDetails]) -> Found:
    bad: dict[str, set[int]] = {name: set() for name in _SECTIONS}
    for err in errors:
        loc = err["loc"]
        if loc and loc[0] in _SECTIONS:
            if len(loc) < 2 or not isinstance(loc[1], int):
                return []  # a whole section is unusable: every reference check would misfire
            bad[str(loc[0])].add(loc[1])
    sections: dict[str, list[Any]] = {}
    for name, model in _SECTIONS.items():
        raw = data.get(name, [])
        if not isinstance(raw, list):
            return []
        sections[name] = [
            _placeholder(model, item, i) if i in bad[name] else model.model_validate(item)
            for i, item in enumerate(raw)
        ]
    partial = Registry.model_construct(
        version=1,
        district=District.model_construct(id="", name=""),
        departments=sections["departments"],
        groups=sections["groups"],
        cameras=sections["cameras"],
        grants=sections["grants"],
        alarm_rules=sections["alarm_rules"],
    )
    return [(loc, m) for loc, m in verify_all(partial) if not _unusable(partial, loc)]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else _NOWHERE


def _texts(value: Any) -> list[str]:
    # Keep the list's length: problems are located by index into it.
    return [_text(v) for v in value] if isinstance(value, list) else []


def _placeholder(model: type[BaseModel], item: Any, index: int) -> BaseModel:
    raw: dict[str, Any] = item if isinstance(item, dict) else {}
    # A raw id that is not text gets a unique stand-in: it must not count as a duplicate.
    item_id = raw["id"] if isinstance(raw.get("id"), str) else f"{_NOWHERE}-{index}"
    if model is Grant:
        return Grant.model_construct(
            department=_text(raw.get("department")), groups=_texts(raw.get("groups"))
        )
    if model is RuleSpec:
        return RuleSpec.model_construct(
            id=item_id,
            name="",
            event_types=[],
            departments=_texts(raw.get("departments")),
            cameras=_texts(raw.get("cameras")),
            groups=_texts(raw.get("groups")),
        )
    if model is Department:
        parent = raw.get("parent")
        return Department.model_construct(
            id=item_id, name="", kind="other", parent=None if parent is None else _text(parent)
        )
    if model is CameraGroup:
        return CameraGroup.model_construct(
            id=item_id, name="", department=_text(raw.get("department"))
        )
    return Camera.model_construct(
        id=item_id,
        name="",
        department=_text(raw.get("department")),
        groups=_texts(raw.get("groups")),
        location=Location.model_construct(lat=0.0, lon=0.0),
    )


def _unusable(registry: Registry, loc: Loc) -> bool:
    """True if the problem at `loc` is about a stand-in, not a value from the file."""
    value: Any = registry
    for part in loc:
        try:
            value = value[part] if isinstance(part, int) else getattr(value, part)
        except (AttributeError, IndexError):
            return True
    return isinstance(value, str) and value.startswith(_NOWHERE)
