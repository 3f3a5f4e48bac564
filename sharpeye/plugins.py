"""How the services plug into the command line and `sharpeye up` without `sharpeye/`
importing them: imports only go down (tests/test_layers.py), so the foundation names entry
point groups and each service declares its entries in pyproject.toml.

- `sharpeye.commands`: `register(app: typer.Typer) -> None`, adding a service's commands
  (ingest: `ingest`, `onvif`; relay: `relay`; command_api: `api`, `audit`; analytics:
  `analyze`).
- `sharpeye.demo`, entry `seed`: `seed(settings) -> list[DemoLogin]`, creating the demo's
  logins (idempotent) for `sharpeye up --demo`.

Entry points are package metadata: an install (`make venv`, `pip install -e .`) registers
them, and a checkout whose pyproject.toml changed needs that install again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    import typer

    from sharpeye.settings import Settings

COMMANDS_GROUP = "sharpeye.commands"
DEMO_GROUP = "sharpeye.demo"
# The first administrator of a real install (`user:password`), created by the API at start.
BOOTSTRAP_ENV = "SHARPEYE_BOOTSTRAP_ADMIN"
REINSTALL_HINT = "reinstall the project (`make venv`, or `pip install -e .` in its venv)"


class PluginMissingError(RuntimeError):
    """An entry point the platform needs is not registered (a stale install)."""


class DemoLogin(Protocol):
    """A demo user as `sharpeye up` prints it."""

    @property
    def username(self) -> str: ...
    @property
    def password(self) -> str: ...
    @property
    def department(self) -> str: ...
    @property
    def roles(self) -> Sequence[str]: ...


def _group(group: str) -> list[EntryPoint]:
    # One entry per name (a source tree's egg-info and the venv's may both list them).
    unique = {ep.name: ep for ep in reversed(list(entry_points(group=group)))}
    return [unique[name] for name in sorted(unique)]


def register_commands(app: typer.Typer) -> int:
    """Let every installed service add its commands to `app`; returns how many did."""
    found = _group(COMMANDS_GROUP)
    for ep in found:
        register = cast("Callable[[typer.Typer], None]", ep.load())
        register(app)
    return len(found)


def seed_demo(settings: Settings) -> list[DemoLogin]:
    """Create the demo's logins through the service that owns users."""
    found = [ep for ep in _group(DEMO_GROUP) if ep.name == "seed"]
    if not found:
        raise PluginMissingError(f"no `{DEMO_GROUP}` entry point `seed`: {REINSTALL_HINT}")
    seed = cast("Callable[[Settings], list[DemoLogin]]", found[0].load())
    return seed(settings)
