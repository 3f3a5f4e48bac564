"""Credential references resolve from the environment or a secrets file; nothing leaks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sharpeye.registry import CredentialError, CredentialRef, Credentials, resolve_credentials

PASSWORD = "s3cret-Pa55-word"


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets.yaml"
    path.write_text(
        "gate-camera: {username: gate-user, password: " + PASSWORD + "}\n"
        "bare-password: " + PASSWORD + "\n"
        "numeric: 123456\n"
    )
    return path


def test_password_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_CAM_PASSWORD", PASSWORD)
    ref = CredentialRef(username="admin", password_env="TEST_CAM_PASSWORD")
    assert resolve_credentials(ref, None) == Credentials("admin", PASSWORD)


def test_username_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_CAM_USER", "env-user")
    monkeypatch.setenv("TEST_CAM_PASSWORD", PASSWORD)
    ref = CredentialRef(username_env="TEST_CAM_USER", password_env="TEST_CAM_PASSWORD")
    assert resolve_credentials(ref, None).username == "env-user"


def test_secret_with_username(secrets_file: Path) -> None:
    creds = resolve_credentials(CredentialRef(secret="gate-camera"), secrets_file)
    assert creds == Credentials("gate-user", PASSWORD)


def test_bare_secret_takes_the_username_from_the_registry(secrets_file: Path) -> None:
    ref = CredentialRef(username="operator", secret="bare-password")
    assert resolve_credentials(ref, secrets_file) == Credentials("operator", PASSWORD)
    numeric = CredentialRef(username="operator", secret="numeric")
    assert resolve_credentials(numeric, secrets_file).password == "123456"


def test_registry_username_wins_over_the_secrets(secrets_file: Path) -> None:
    ref = CredentialRef(username="override", secret="gate-camera")
    assert resolve_credentials(ref, secrets_file).username == "override"


def test_secrets_file_edits_are_picked_up(secrets_file: Path) -> None:
    ref = CredentialRef(username="u", secret="bare-password")
    assert resolve_credentials(ref, secrets_file).password == PASSWORD
    secrets_file.write_text("bare-password: rotated-password-0\n")
    # A new size is enough to invalidate the cache even within one mtime tick.
    assert resolve_credentials(ref, secrets_file).password == "rotated-password-0"


@pytest.mark.parametrize(
    ("ref", "env", "needs_file", "message"),
    [
        (
            CredentialRef(username="u", password_env="TEST_UNSET_PASSWORD"),
            {},
            False,
            "environment variable TEST_UNSET_PASSWORD (password) is not set",
        ),
        (
            CredentialRef(username="u", password_env="TEST_EMPTY_PASSWORD"),
            {"TEST_EMPTY_PASSWORD": ""},
            False,
            "environment variable TEST_EMPTY_PASSWORD (password) is empty",
        ),
        (
            CredentialRef(username_env="TEST_UNSET_USER", password_env="TEST_PW"),
            {"TEST_PW": PASSWORD},
            False,
            "environment variable TEST_UNSET_USER (user name) is not set",
        ),
        (
            CredentialRef(password_env="TEST_PW"),
            {"TEST_PW": PASSWORD},
            False,
            "no user name for password_env TEST_PW",
        ),
        (
            CredentialRef(secret="bare-password"),
            {},
            True,
            "no user name for secret 'bare-password'",
        ),
        (
            CredentialRef(username="u", secret="absent-key"),
            {},
            True,
            "secret 'absent-key' is not in secrets file",
        ),
        (
            CredentialRef(username="u", secret="gate-camera"),
            {},
            False,
            "secret 'gate-camera' is referenced but SHARPEYE_SECRETS_FILE is not set",
        ),
    ],
)
def test_errors_name_the_source_never_the_value(
    monkeypatch: pytest.MonkeyPatch,
    secrets_file: Path,
    ref: CredentialRef,
    env: dict[str, str],
    needs_file: bool,
    message: str,
) -> None:
    for name in ("TEST_UNSET_PASSWORD", "TEST_UNSET_USER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(CredentialError) as caught:
        resolve_credentials(ref, secrets_file if needs_file else None)
    assert message in str(caught.value)
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("key: {username: u, password: " + PASSWORD + "\n", "is not valid YAML"),
        ("- " + PASSWORD + "\n", "must be a mapping"),
        ("key: {username: u, pasword: " + PASSWORD + "}\n", "unknown fields pasword"),
        ("key: [" + PASSWORD + "]\n", "must be a password or {username, password}"),
    ],
)
def test_malformed_secrets_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "secrets.yaml"
    path.write_text(content)
    with pytest.raises(CredentialError) as caught:
        resolve_credentials(CredentialRef(username="u", secret="key"), path)
    assert message in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_unreadable_secrets_file(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="cannot read secrets file"):
        resolve_credentials(CredentialRef(username="u", secret="k"), tmp_path / "absent.yaml")


def test_repr_and_str_never_show_the_password() -> None:
    creds = Credentials(username="admin", password=PASSWORD)
    for text in (repr(creds), str(creds), f"{creds}", f"{[creds]}", f"{ {'c': creds} }"):
        assert PASSWORD not in text
        assert "admin" in text and "***" in text
    assert creds.password == PASSWORD


def test_environment_is_not_modified(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_CAM_PASSWORD", PASSWORD)
    before = dict(os.environ)
    resolve_credentials(CredentialRef(username="u", password_env="TEST_CAM_PASSWORD"), None)
    assert dict(os.environ) == before
