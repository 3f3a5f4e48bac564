"""Checks across sections of a registry: unique ids and references that must exist.

Each `verify_*` returns every problem it finds as (location, message), the location being a
key path like ("cameras", 3, "department"), so the loader can map it to a YAML line and the
user sees all of them in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sharpeye.registry.schema import Registry

Loc = tuple[str | int, ...]
Found = list[tuple[Loc, str]]


def format_loc(loc: Iterable[str | int]) -> str:
    """("cameras", 3, "streams", "main") -> "cameras[3].streams.main"."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def describe(registry: Registry, loc: Loc) -> str:
    """format_loc plus the id of the item the path is inside, e.g. "cameras[3].groups[0] (id=x)"."""
    text = format_loc(loc)
    if len(loc) >= 2 and isinstance(loc[1], int):
        items: list[object] = list(getattr(registry, str(loc[0]), []))
        if loc[1] < len(items):
            item = items[loc[1]]
            key = "department" if loc[0] == "grants" else "id"
            text += f" ({key}={getattr(item, key, '?')})"
    return text


def _duplicates(section: str, noun: str, ids: Iterable[str], base: Loc = ()) -> Found:
    found: Found = []
    first: dict[str, int] = {}
    for index, item_id in enumerate(ids):
        if item_id in first:
            where = format_loc((*base, section, first[item_id]))
            found.append(
                ((*base, section, index, "id"), f"duplicate {noun} id {item_id!r} ({where})")
            )
        else:
            first[item_id] = index
    return found


def verify_unique_ids(registry: Registry) -> Found:
    found = _duplicates("departments", "department", (d.id for d in registry.departments))
    found += _duplicates("groups", "group", (g.id for g in registry.groups))
    found += _duplicates("cameras", "camera", (c.id for c in registry.cameras))
    found += _duplicates("alarm_rules", "alarm rule", (r.id for r in registry.alarm_rules))
    return found


def verify_department_parents(registry: Registry) -> Found:
    """Parents exist and the parent chain never loops back."""
    found: Found = []
    parents = {d.id: d.parent for d in registry.departments}
    for index, dept in enumerate(registry.departments):
        if dept.parent is None:
            continue
        loc: Loc = ("departments", index, "parent")
        if dept.parent not in parents:
            found.append((loc, f"unknown department {dept.parent!r}"))
            continue
        seen = {dept.id}
        current: str | None = dept.parent
        while current is not None and current in parents:
            if current in seen:
                found.append((loc, f"department {dept.id!r} is its own ancestor"))
                break
            seen.add(current)
            current = parents[current]
    return found


def verify_group_owners(registry: Registry) -> Found:
    known = {d.id for d in registry.departments}
    return [
        (("groups", i, "department"), f"unknown department {g.department!r}")
        for i, g in enumerate(registry.groups)
        if g.department not in known
    ]


def verify_camera_references(registry: Registry) -> Found:
    """Each camera's department and groups exist; zone and line ids are unique per camera."""
    found: Found = []
    departments = {d.id for d in registry.departments}
    groups = {g.id for g in registry.groups}
    for index, cam in enumerate(registry.cameras):
        base: Loc = ("cameras", index)
        if cam.department not in departments:
            found.append(((*base, "department"), f"unknown department {cam.department!r}"))
        for g_index, group in enumerate(cam.groups):
            if group not in groups:
                found.append(((*base, "groups", g_index), f"unknown group {group!r}"))
        # Zones and lines share one namespace: events name them by id within the camera.
        analytics: Loc = (*base, "analytics")
        first: dict[str, Loc] = {}
        shapes = [("zones", i, z.id) for i, z in enumerate(cam.analytics.zones)]
        shapes += [("lines", i, ln.id) for i, ln in enumerate(cam.analytics.lines)]
        for kind, s_index, shape_id in shapes:
            loc: Loc = (*analytics, kind, s_index)
            if shape_id in first:
                where = format_loc(first[shape_id])
                found.append(((*loc, "id"), f"duplicate zone/line id {shape_id!r} ({where})"))
            else:
                first[shape_id] = loc
    return found


def verify_gb28181_channels(registry: Registry) -> Found:
    """A gb28181:// stream names a device of the `gb28181:` section (the only ones allowed
    to register, so the only ones that can ever be played)."""
    # Imported here: urls needs nothing from the schema, but keep this module's imports lean.
    from sharpeye.registry.urls import is_gb28181_url, parse_gb28181_url

    found: Found = []
    gb = registry.gb28181
    devices = gb.devices_by_id if gb is not None else {}
    for index, cam in enumerate(registry.cameras):
        if cam.streams is None:
            continue
        for key in ("main", "sub"):
            url = getattr(cam.streams, key)
            if url is None or not is_gb28181_url(url):
                continue
            device_id, _channel = parse_gb28181_url(url)  # the schema checked the form
            loc: Loc = ("cameras", index, "streams", key)
            if gb is None:
                found.append((loc, "a gb28181:// stream needs the registry's gb28181: section"))
            elif device_id not in devices:
                found.append((loc, f"device {device_id} is not in gb28181.devices"))
    return found


def verify_grants(registry: Registry) -> Found:
    found: Found = []
    departments = {d.id for d in registry.departments}
    groups = {g.id for g in registry.groups}
    for index, grant in enumerate(registry.grants):
        if grant.department not in departments:
            found.append(
                (("grants", index, "department"), f"unknown department {grant.department!r}")
            )
        for g_index, group in enumerate(grant.groups):
            if group not in groups:
                found.append((("grants", index, "groups", g_index), f"unknown group {group!r}"))
    return found


def verify_alarm_rules(registry: Registry) -> Found:
    """Rules route to departments that exist and select cameras and groups that exist."""
    found: Found = []
    known: dict[str, set[str]] = {
        "departments": {d.id for d in registry.departments},
        "cameras": {c.id for c in registry.cameras},
        "groups": {g.id for g in registry.groups},
    }
    for index, rule in enumerate(registry.alarm_rules):
        for key, ids in known.items():
            for r_index, ref in enumerate(getattr(rule, key)):
                if ref not in ids:
                    noun = key.removesuffix("s")
                    found.append((("alarm_rules", index, key, r_index), f"unknown {noun} {ref!r}"))
    return found


def verify_all(registry: Registry) -> Found:
    """Every cross-section problem, in a stable order (the loader sorts by line)."""
    return (
        verify_unique_ids(registry)
        + verify_department_parents(registry)
        + verify_group_owners(registry)
        + verify_camera_references(registry)
        + verify_gb28181_channels(registry)
        + verify_grants(registry)
        + verify_alarm_rules(registry)
    )
