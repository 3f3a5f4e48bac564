"""Errors of the registry: every problem names file, line and key path; none carries a secret."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a registry file, located for a human with an editor open."""

    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        if self.key:
            return f"{self.file}:{self.line}: {self.key}: {self.message}"
        return f"{self.file}:{self.line}: {self.message}"


class RegistryError(Exception):
    """A registry that cannot be used; `problems` lists all of them, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class CredentialError(Exception):
    """A credential reference that cannot be resolved; names the variable or key, never a value."""
