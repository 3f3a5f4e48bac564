"""The services reach the command line and `sharpeye up` through entry points
(sharpeye/plugins.py), not through imports from the foundation: every command is still
there, and an install that lacks the entry points says what to do."""

from __future__ import annotations

import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import typer.main

from sharpeye import plugins
from sharpeye.cli import app
from sharpeye.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _declared(group: str) -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared: dict[str, str] = project["entry-points"][group]
    return declared


def test_every_command_is_on_the_command_line() -> None:
    commands = set(typer.main.get_group(app).commands)
    assert commands >= {
        "up", "check-registry", "status", "simulate", "footage", "models",  # sharpeye
        "ingest", "onvif", "relay", "api", "audit", "analyze",  # services
    }  # fmt: skip


def test_the_install_registers_what_pyproject_declares() -> None:
    """A venv installed before pyproject.toml changed misses commands: `make venv`."""
    for group in (plugins.COMMANDS_GROUP, plugins.DEMO_GROUP):
        installed = {ep.name: ep.value for ep in plugins._group(group)}
        assert installed == _declared(group), f"{group}: {plugins.REINSTALL_HINT}"


def test_a_missing_demo_seed_says_to_reinstall(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(plugins, "_group", lambda group: list[EntryPoint]())
    with pytest.raises(plugins.PluginMissingError, match="make venv"):
        plugins.seed_demo(Settings.model_validate({"SHARPEYE_DATA_DIR": tmp_path}))
