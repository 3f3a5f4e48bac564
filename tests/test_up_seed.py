"""`sharpeye up` creates the demo's well-known logins only when asked (--demo, SHARPEYE_DEMO);
otherwise no user at all, and it says how to create the first administrator."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from command_api.auth.passwords import use_cheap_hashing_for_tests
from command_api.auth.seed import DEMO_USERS
from sharpeye.cli import app
from sharpeye.settings import Settings
from sharpeye.store.db import create_engine_for, session_factory, session_scope, upgrade_database
from sharpeye.store.models import UserRow
from sharpeye.up import demo_requested, first_admin_hint, has_users, seed_users

DEMO_REGISTRY = Path(__file__).resolve().parents[1] / "camera_registry.yaml"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    use_cheap_hashing_for_tests()
    shutil.copy(DEMO_REGISTRY, tmp_path / "camera_registry.yaml")
    s = Settings.model_validate(
        {
            "SHARPEYE_REGISTRY": tmp_path / "camera_registry.yaml",
            "SHARPEYE_DATA_DIR": tmp_path / "data",
            "DATABASE_URL": None,
        }
    )
    upgrade_database(s)  # as `up` does before seeding
    return s


def _usernames(settings: Settings) -> set[str]:
    engine = create_engine_for(settings)
    try:
        with session_scope(session_factory(engine)) as s:
            return set(s.execute(select(UserRow.username)).scalars())
    finally:
        engine.dispose()


def test_without_the_demo_flag_no_user_is_created(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHARPEYE_DEMO", raising=False)
    monkeypatch.delenv("SHARPEYE_BOOTSTRAP_ADMIN", raising=False)
    # The demo registry has a `police` department, as a real one may: still nobody.
    assert seed_users(settings, demo_requested(False)) == []
    assert _usernames(settings) == set()
    assert not has_users(settings)
    assert "SHARPEYE_BOOTSTRAP_ADMIN=" in first_admin_hint()


def test_with_the_demo_flag_the_demo_users_exist(settings: Settings) -> None:
    users = seed_users(settings, True)
    assert {u.username for u in users} == {u.username for u in DEMO_USERS}
    assert _usernames(settings) == {u.username for u in DEMO_USERS}
    assert has_users(settings)


@pytest.mark.parametrize(
    ("env", "flag", "expected"),
    [
        ("", False, False),
        ("0", False, False),
        ("1", False, True),
        ("", True, True),
    ],
)
def test_demo_from_flag_or_environment(
    env: str, flag: bool, expected: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHARPEYE_DEMO", env)
    assert demo_requested(flag) is expected


def test_up_takes_a_demo_flag() -> None:
    result = CliRunner().invoke(app, ["up", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "--demo" in result.output
