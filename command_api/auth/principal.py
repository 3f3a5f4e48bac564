"""The authenticated caller of a request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from command_api.auth.roles import Role


@dataclass(frozen=True)
class Principal:
    """A user (logged in with a token) or a machine (an API key)."""

    kind: Literal["user", "api_key"]
    id: int
    name: str
    department: str
    roles: frozenset[Role]
    # The login session behind a user's access token (None: an API key, or an older token):
    # what open WebSockets recheck, and what logout revokes.
    session_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return Role.ADMINISTRATOR in self.roles

    def has_any(self, roles: frozenset[Role]) -> bool:
        return not self.roles.isdisjoint(roles)

    @property
    def actor(self) -> str:
        """How the audit log names the caller."""
        return self.name if self.kind == "user" else f"key:{self.name}"
