"""The registry's `recording:` block, on a camera or a camera group: record the camera.

```yaml
groups:
  - {id: schools, ..., recording: {retain_days: 30}}      # every camera in the group
cameras:
  - {id: gate, ..., recording: {enabled: true, retain_days: 90, segment_s: 60}}
  - {id: yard, ..., groups: [schools], recording: {enabled: false}}  # not this one
```

A camera's own block wins over its groups'; among its groups, the first (in the camera's
`groups` order) that has a block decides. `enabled: false` on a camera turns recording off
even where a group asks for it. Recording remuxes the packets ingest already reads (no
second pull, no re-encoding) into fragmented-MP4 segments of about `segment_s` seconds (cut
at a keyframe), kept `retain_days` days or until the node's disk budget
(`SHARPEYE_RECORDING_BUDGET_GB`) needs the space, oldest first.

Its own module, not schema.py: the schema imports it, and it needs nothing from the schema
(the error type is the loader's, as `sharpeye.registry.gb28181` does).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


class Recording(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    enabled: bool = Field(default=True, description="Record the camera (false: do not).")
    retain_days: float = Field(
        default=30.0,
        gt=0.0,
        le=3650.0,
        description="Days segments are kept (locked ones longer); the node's disk budget may "
        "remove the oldest sooner.",
    )
    segment_s: float = Field(
        default=60.0,
        ge=2.0,
        le=3600.0,
        description="Length of each recorded file in seconds, cut at the next keyframe "
        "after it (so at least one GOP).",
    )


class _HasRecording(Protocol):
    @property
    def recording(self) -> Recording | None: ...


class _RecordedCamera(_HasRecording, Protocol):
    @property
    def groups(self) -> list[str]: ...


def recording_of(camera: _RecordedCamera, groups: Mapping[str, _HasRecording]) -> Recording | None:
    """What the camera records with, or None when it is not recorded. `groups`: the
    registry's groups by id (unknown ids are ignored: the loader reports them)."""
    chosen = camera.recording
    if chosen is None:
        for gid in camera.groups:
            group = groups.get(gid)
            if group is not None and group.recording is not None:
                chosen = group.recording
                break
    return chosen if chosen is not None and chosen.enabled else None
