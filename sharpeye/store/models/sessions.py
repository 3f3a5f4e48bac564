"""Login sessions: what a user's short-lived access tokens are renewed from.

A login opens one session; the wall renews its access token from it (a secret it holds,
stored here only as a SHA-256) until the session's absolute end, its revocation (logout,
an administrator) or the user's deactivation. Access tokens name their session (`sid`), so
a revoked session ends its tokens and its WebSockets too, not only its renewals.
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from sharpeye.store.db import Base


class LoginSessionRow(Base):
    __tablename__ = "login_sessions"
    __table_args__ = (Index("ix_login_sessions_user", "user_id", "expires_at"),)

    # Random, public enough to sit in access tokens and the audit log; renewing also needs
    # the secret whose hash is kept below.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    renewed_at: Mapped[float] = mapped_column(Float)
    # The absolute end: renewals never extend it (a new login opens a new session).
    expires_at: Mapped[float] = mapped_column(Float, index=True)
    revoked_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    revoked_by: Mapped[str] = mapped_column(String(64), default="")
    client: Mapped[str] = mapped_column(String(64), default="")
