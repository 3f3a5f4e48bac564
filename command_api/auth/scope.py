"""Which cameras a caller may see: administrators all; others their department's own, its
groups, and groups granted by the registry or the API (unexpired)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from command_api.auth.camera_scope import ALL_CAMERAS as ALL_CAMERAS
from command_api.auth.camera_scope import CameraScope as CameraScope
from command_api.auth.directory import granted_groups, visible_cameras
from command_api.auth.principal import Principal
from command_api.runtime import Runtime
from sharpeye.registry import Registry


def scope_for(runtime: Runtime, principal: Principal) -> CameraScope:
    """Cameras `principal` may see: administrators all; others their department's own,
    its groups, and groups granted by the registry or the API (unexpired)."""
    if principal.is_admin:
        return CameraScope(None, "all cameras (administrator)", principal)
    now = runtime.clock.now()
    with runtime.sessions() as s:
        extra = granted_groups(s, principal.department, now)
    ids = _visible(runtime.registry.registry, principal.department, frozenset(extra), now)
    return CameraScope(ids, f"cameras visible to {principal.department}", principal)


_SCOPE_TTL_S = 5.0
_scope_cache: dict[tuple[str, frozenset[str], int], frozenset[str]] = {}
_scope_cache_registry: list[Registry] = []


def _visible(
    registry: Registry, department: str, extra: frozenset[str], now: float
) -> frozenset[str]:
    """`visible_camera_ids` walks every camera (54,000 in a district): reuse the answer for
    a few seconds per department and grant set; a registry reload or a changed API grant
    is a new key, a registry grant's expiry is seen within `_SCOPE_TTL_S`."""
    if not _scope_cache_registry or _scope_cache_registry[0] is not registry:
        _scope_cache.clear()
        _scope_cache_registry[:] = [registry]
    bucket = int(now // _SCOPE_TTL_S)
    key = (department, extra, bucket)
    ids = _scope_cache.get(key)
    if ids is None:
        # Only the current period's answers are ever read again: drop the older ones, so
        # the cache holds one set per department and grant set (each can be 54,000 ids),
        # not a thousand stale ones.
        for old in [k for k in _scope_cache if k[2] != bucket]:
            del _scope_cache[old]
        ids = frozenset(visible_cameras(registry, department, set(extra), now))
        _scope_cache[key] = ids
    return ids


async def follow_scope(
    runtime: Runtime, principal: Principal, apply: Callable[[CameraScope], None]
) -> None:
    """For an open socket: every `recheck_s`, `apply` the caller's current scope, so a grant
    removed or a registry edit reaches sockets already open (the alarm and health streams
    filter by it), not only new ones. Runs until cancelled with the socket.

    A department's scope is computed once per interval and shared by all its sockets (15,000
    walls, 70 departments: ~14 scope reads per interval, not thousands)."""
    if principal.is_admin:
        return  # every camera, whatever changes
    every_s = runtime.auth.recheck_s
    while True:
        await asyncio.sleep(every_s)
        now = time.monotonic()
        hit = runtime.scope_memo.get(principal.department)
        if hit is not None and now - hit[0] < every_s:
            scope = hit[1]
        else:
            scope = await run_in_threadpool(scope_for, runtime, principal)
            runtime.scope_memo[principal.department] = (now, scope)
        apply(scope)
