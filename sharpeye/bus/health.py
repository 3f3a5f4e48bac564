"""The health contract on Redis: one hash of latest reports, one channel of state changes.

Ingest workers write `HEALTH_KEY` (camera_id -> `CameraHealth` JSON) every few seconds and
publish on `HEALTH_CHANNEL` when a camera's state changes (for live walls). Readers (API,
`sharpeye status`) must judge staleness themselves: a worker that dies stops reporting but
its last "online" stays in the hash, so `effective_state` turns old reports into offline.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import redis
import redis.asyncio
from pydantic import ValidationError

from sharpeye.contracts.health import CameraHealth, CameraState

log = logging.getLogger(__name__)

HEALTH_KEY = "sharpeye:health"
HEALTH_CHANNEL = "sharpeye:health:changes"
# Workers report every 1-2 s; several missed reports mean the worker (or its node) is gone.
STALE_AFTER_S = 10.0
# Shown for cameras no worker has reported on yet; not a CameraState (nobody reports it).
UNKNOWN: Final = "unknown"


# KEYS: the health hash. ARGV: (camera, report JSON, fence or "", announce "1"/"") per report.
# A report whose fence is below the stored report's is refused (its worker's lease passed
# on); reports without a fence are stored as they are. Returns the refused cameras.
_PUBLISH = """
local refused = {}
for i = 1, #ARGV - 1, 4 do
  local cam, json, fence = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local ok = true
  if fence ~= '' then
    local old = redis.call('HGET', KEYS[1], cam)
    local stored = old and string.match(old, '"fence":(%d+)')
    if stored and tonumber(stored) > tonumber(fence) then ok = false end
  end
  if ok then
    redis.call('HSET', KEYS[1], cam, json)
    if ARGV[i + 3] == '1' then redis.call('PUBLISH', ARGV[#ARGV], json) end
  else
    refused[#refused + 1] = cam
  end
end
return refused
"""


async def publish_health(
    r: redis.asyncio.Redis,
    items: Sequence[CameraHealth],
    changed: Sequence[CameraHealth] = (),
) -> set[str]:
    """Store the latest reports and announce state changes, in one round trip (one script,
    one key). Returns the cameras whose report was refused by fencing: a newer lease's
    worker reports on them now."""
    announce = {h.camera_id: h for h in changed}
    reports = {h.camera_id: h for h in items} | announce
    if not reports:
        return set()
    args: list[str] = []
    for cid, h in reports.items():
        fence = "" if h.fence is None else str(h.fence)
        args += [cid, h.model_dump_json(), fence, "1" if cid in announce else ""]
    script = r.register_script(_PUBLISH)  # EVALSHA: the script text is sent once
    refused = await script(keys=[HEALTH_KEY], args=[*args, HEALTH_CHANNEL])
    return {c.decode() if isinstance(c, bytes) else str(c) for c in refused or []}


async def read_health(
    r: redis.asyncio.Redis, camera_ids: Sequence[str] | None = None
) -> dict[str, CameraHealth]:
    """Latest report per camera (all, or only `camera_ids`: one HMGET, for a page of a wall)."""
    if camera_ids is None:
        return _parse_all(await r.hgetall(HEALTH_KEY))
    if not camera_ids:
        return {}
    values = await r.hmget(HEALTH_KEY, list(camera_ids))
    return _parse_all(zip(camera_ids, values, strict=True))


def read_health_sync(
    r: redis.Redis, camera_ids: Sequence[str] | None = None
) -> dict[str, CameraHealth]:
    """The blocking variant of `read_health`."""
    if camera_ids is None:
        return _parse_all(r.hgetall(HEALTH_KEY))
    if not camera_ids:
        return {}
    values = r.hmget(HEALTH_KEY, list(camera_ids))
    return _parse_all(zip(camera_ids, values, strict=True))


async def remove_health(r: redis.asyncio.Redis, camera_ids: Iterable[str]) -> None:
    """Forget cameras removed from the registry, so walls stop listing them."""
    ids = list(camera_ids)
    if ids:
        await r.hdel(HEALTH_KEY, *ids)


def parse_health(raw: str | bytes) -> CameraHealth:
    return CameraHealth.model_validate_json(raw)


def _parse_all(
    pairs: Mapping[bytes | str, bytes | str] | Iterable[tuple[str, bytes | str | None]],
) -> dict[str, CameraHealth]:
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    out: dict[str, CameraHealth] = {}
    for key, raw in items:
        if raw is None:
            continue
        camera_id = key.decode() if isinstance(key, bytes) else key
        try:
            out[camera_id] = parse_health(raw)
        except ValidationError as e:
            # One worker on another version must not blank the whole wall: skip it, loudly.
            log.warning("ignoring malformed health report for camera %r: %s", camera_id, e)
    return out


def is_stale(h: CameraHealth, now: float, stale_after_s: float = STALE_AFTER_S) -> bool:
    # A report from the future (clock skew between nodes) counts as fresh.
    return now - h.updated_at > stale_after_s


def effective_state(
    h: CameraHealth, now: float, stale_after_s: float = STALE_AFTER_S
) -> CameraState:
    """The state a reader should show: a stale report means the worker died, so offline."""
    if h.state is CameraState.DISABLED:
        return h.state
    if is_stale(h, now, stale_after_s):
        return CameraState.OFFLINE
    return h.state


def stale_reason(h: CameraHealth, now: float, stale_after_s: float = STALE_AFTER_S) -> str | None:
    """Why `effective_state` overrode the reported state, or None if it did not."""
    if h.state is CameraState.DISABLED or not is_stale(h, now, stale_after_s):
        return None
    return (
        f"no health report for {now - h.updated_at:.0f} s "
        f"(ingest worker on {h.node_id} stopped?); last reported {h.state.value}"
    )


def current_frame_age(h: CameraHealth, now: float) -> float | None:
    """The last frame's age now, not when the report was written."""
    if h.last_frame_age_s is None:
        return None
    return h.last_frame_age_s + max(0.0, now - h.updated_at)


def state_reason(h: CameraHealth, now: float, stale_after_s: float = STALE_AFTER_S) -> str | None:
    """Why the camera is not online, for an operator: the staleness override first, then the
    worker's own reason (older workers send none: their error or picture issues instead)."""
    stale = stale_reason(h, now, stale_after_s)
    if stale is not None:
        return stale
    if h.state is CameraState.ONLINE:
        return None
    if h.reason:
        return h.reason
    if h.last_error:
        return h.last_error
    if h.quality_issues:
        return "picture " + ", ".join(h.quality_issues)
    return h.state.value
