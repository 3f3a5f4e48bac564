"""Identity: users in departments with roles, passwords, short-lived tokens, API keys."""

from command_api.auth.principal import Principal
from command_api.auth.roles import Role

__all__ = ["Principal", "Role"]
