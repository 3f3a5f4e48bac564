"""What a department told of an alarm on a camera it may not watch does not get.

An alarm is routed to departments, not to cameras: a department may be told of an alarm on
a camera it may not watch (a fire rule routed to the fire brigade from the police's
cameras). It keeps the alarm but not what the camera would show it: `withhold_camera`
blanks the location, the evidence and the camera's name for such readers, on the live
sockets (`command_api.live.hub`) and in GET /api/alarms alike.
"""

from __future__ import annotations

from sharpeye.contracts.alarms import Alarm


def withhold_camera(alarm: Alarm) -> Alarm:
    """`alarm` without what would show its camera: location, evidence (snapshots, clips)
    and the camera's name (also cut from the title, which ends with it); its id stays, so
    the alarm can still be discussed with the department that owns the camera."""
    title = alarm.title.removesuffix(f" — {alarm.camera_name}")
    return alarm.model_copy(
        update={
            "camera_name": alarm.camera_id,
            "title": title,
            "evidence": [],
            "lat": None,
            "lon": None,
        }
    )
