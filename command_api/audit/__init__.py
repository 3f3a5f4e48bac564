"""The audit log: append in the caller's transaction, query, verify the hash chain."""

from command_api.audit.log import AuditEntry, VerifyResult, append, record_hash, verify

__all__ = ["AuditEntry", "VerifyResult", "append", "record_hash", "verify"]
