"""The scope cache holds the current period's answers only: one camera set per department
and grant set, however long the API runs (each set can be a district's 54,000 ids)."""

from __future__ import annotations

from pathlib import Path

from command_api.auth import scope
from sharpeye.registry import load_registry
from tests.command_api.harness import DEMO_REGISTRY


def test_old_periods_are_dropped_as_time_moves_on() -> None:
    registry = load_registry(Path(DEMO_REGISTRY))
    scope._scope_cache.clear()
    for step in range(500):  # 500 periods of 5 s, seven departments each
        now = 1_800_000_000.0 + step * scope._SCOPE_TTL_S
        for department in [d.id for d in registry.departments]:
            ids = scope._visible(registry, department, frozenset(), now)
            assert ids == scope._visible(registry, department, frozenset(), now)  # cached
    assert len(scope._scope_cache) == len(registry.departments)
