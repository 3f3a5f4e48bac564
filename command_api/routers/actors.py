"""The caller's name where the store records who did something outside the audit log: an
alarm's history, who made a grant or an API key, who ended a session (64 characters each).

A user's name fits (64 at most), but an API key acts as "key:<name>" and its name may take
200 characters: written whole, an acknowledgement by such a key overflowed the column on
PostgreSQL (a 500, the alarm left unacknowledged). It is cut as the audit log cuts it
(`command_api.audit.bounds`), so the history and the audit record name the same caller.
"""

from __future__ import annotations

from command_api.audit.bounds import LIMITS, cut
from command_api.auth.principal import Principal


def recorded_actor(principal: Principal) -> str:
    return cut(principal.actor, LIMITS["actor"])
