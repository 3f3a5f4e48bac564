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
        # line 0: about the file as a whole (unreadable), not any line in it.
        where = f"{self.file}:{self.line}" if self.line > 0 else self.file
        if self.key:
            return f"{where}: {self.key}: {self.message}"
        return f"{where}: {self.message}"


class RegistryError(Exception):
    """A registry that cannot be used; `problems` lists all of them, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class CredentialError(Exception):
    """A credential reference that cannot be resolved; names the variable or key, never a value."""
