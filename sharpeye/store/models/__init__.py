"""The store's tables (command API; analytics sightings). Importing this package registers
them all on `Base.metadata` (Alembic's env imports it so autogenerate sees every table)."""

from sharpeye.store.models.alarms import AlarmNote, AlarmRoute, AlarmRow, AlarmRuleRow, SeenEvent
from sharpeye.store.models.audit import AuditHead, AuditRecord
from sharpeye.store.models.delivery import DestinationRow, OutboxItem
from sharpeye.store.models.evidence import EvidenceLockRow
from sharpeye.store.models.identity import ApiKeyRow, DepartmentRow, GrantRow, UserRow
from sharpeye.store.models.recordings import RecordingRow
from sharpeye.store.models.sessions import LoginSessionRow
from sharpeye.store.models.sightings import SightingAttribute, SightingPlateKey, SightingRow

__all__ = [
    "AlarmNote",
    "AlarmRoute",
    "AlarmRow",
    "AlarmRuleRow",
    "ApiKeyRow",
    "AuditHead",
    "AuditRecord",
    "DepartmentRow",
    "DestinationRow",
    "EvidenceLockRow",
    "GrantRow",
    "LoginSessionRow",
    "OutboxItem",
    "RecordingRow",
    "SeenEvent",
    "SightingAttribute",
    "SightingPlateKey",
    "SightingRow",
    "UserRow",
]
