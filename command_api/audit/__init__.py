"""The audit log: append in the caller's transaction, query, verify the keyed chain."""

from command_api.audit.log import (
    Anchor,
    AuditEntry,
    VerifyResult,
    append,
    append_many,
    record_hash,
    record_mac,
    verify,
)

__all__ = [
    "Anchor",
    "AuditEntry",
    "VerifyResult",
    "append",
    "append_many",
    "record_hash",
    "record_mac",
    "verify",
]
