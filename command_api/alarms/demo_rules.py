"""The demo district's alarm rules: the routing matrix of the command centre.

fire → forestry + police; crowd at a scenic spot → tourism + police; intrusion at a school
gate after hours → education + police; a boat leaving port at night → fisheries;
watchlist face → police only.
"""

from __future__ import annotations

from command_api.alarms.rules import RuleSpec, TimeWindow

DEMO_RULES: list[RuleSpec] = [
    RuleSpec(
        id="forest-fire",
        name="Fire or smoke at a forest lookout",
        event_types=["fire", "smoke"],
        groups=["forest"],
        tags=["fire-watch"],
        min_score=0.5,
        severity="critical",
        cooldown_s=120,
        departments=["forestry", "police"],
        escalate_after_s=120,
    ),
    RuleSpec(
        id="scenic-crowd",
        name="Crowd at a scenic spot",
        event_types=["crowd"],
        groups=["scenic-spots"],
        min_value=50,
        severity="high",
        cooldown_s=300,
        departments=["tourism", "police"],
    ),
    RuleSpec(
        id="school-intrusion-after-hours",
        name="Intrusion at a school gate after hours",
        event_types=["intrusion"],
        groups=["schools"],
        windows=[TimeWindow(start="18:00", end="07:00")],
        severity="high",
        departments=["education", "police"],
    ),
    RuleSpec(
        id="port-night-departure",
        name="Boat leaving port at night",
        event_types=["boat_departure", "line_crossing"],
        groups=["port"],
        windows=[TimeWindow(start="20:00", end="05:00")],
        severity="medium",
        departments=["fisheries"],
    ),
    RuleSpec(
        id="watchlist-face",
        name="Watchlist face",
        event_types=["watchlist_face"],
        min_score=0.6,
        severity="high",
        cooldown_s=600,
        departments=["police"],
        escalate_after_s=180,
    ),
]
