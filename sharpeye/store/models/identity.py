"""Who may do what: departments, users with roles, machine API keys, camera-group grants."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from sharpeye.store.db import Base


class DepartmentRow(Base):
    __tablename__ = "departments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32), default="other")
    # 'registry': seeded from camera_registry.yaml and refreshed at startup; 'api': created here.
    source: Mapped[str] = mapped_column(String(16), default="api")
    created_at: Mapped[float] = mapped_column(Float)


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"), index=True)
    # argon2id encoded hash (parameters and salt inside); never the password.
    password_hash: Mapped[str] = mapped_column(String(256))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class ApiKeyRow(Base):
    """A machine's key: `sk_<prefix>_<secret>`; only the SHA-256 of the whole key is kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"), index=True)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Every key ends (90 days by default, a year at most); a rotation brings it forward to
    # the end of the overlap and names the key that replaced it.
    expires_at: Mapped[float] = mapped_column(Float)
    replaced_by: Mapped[int | None] = mapped_column(Integer, nullable=True)


class GrantRow(Base):
    """A grant made through the API (the registry's grants are read from the registry)."""

    __tablename__ = "grants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"), index=True)
    groups: Mapped[list[str]] = mapped_column(JSON)
    expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)

    def active(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


def json_list(value: Any) -> list[str]:
    """A JSON column read back as a list of strings (defensive against hand-edited rows)."""
    return [str(v) for v in value] if isinstance(value, list) else []
