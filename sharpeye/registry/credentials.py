"""Turn a registry `CredentialRef` into a user name and password at the moment of use.

Passwords live in the environment or in a secrets file (SHARPEYE_SECRETS_FILE), never in the
registry. The secrets file is YAML: `key: {username: u, password: p}` or `key: password`.
Errors name the variable or key; no message, repr or log line here ever holds a password.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sharpeye.registry.errors import CredentialError
from sharpeye.registry.schema import CredentialRef


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password='***')"

    __str__ = __repr__


@dataclass(frozen=True)
class SecretEntry:
    username: str | None
    password: str = field(repr=False)


# Ingest resolves one reference per camera; re-reading the file each time for thousands of
# cameras is wasteful, so keep the parsed file while its mtime and size stay the same.
_cache_lock = threading.Lock()
_cache: dict[Path, tuple[tuple[int, int], dict[str, SecretEntry]]] = {}


def load_secrets(path: Path) -> Mapping[str, SecretEntry]:
    """Parse the secrets file; CredentialError if it is unreadable or malformed."""
    try:
        stat = path.stat()
        signature = (stat.st_mtime_ns, stat.st_size)
        with _cache_lock:
            cached = _cache.get(path)
        if cached is not None and cached[0] == signature:
            return cached[1]
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise CredentialError(f"cannot read secrets file {path}: {reason}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        # Not the YAML message itself: it may quote the line, password included.
        raise CredentialError(f"secrets file {path}{where} is not valid YAML") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CredentialError(f"secrets file {path} must be a mapping of key -> credentials")
    entries = {str(key): _entry(path, str(key), value) for key, value in data.items()}
    with _cache_lock:
        _cache[path] = (signature, entries)
    return entries


def _entry(path: Path, key: str, value: object) -> SecretEntry:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return SecretEntry(username=None, password=str(value))
    if isinstance(value, dict):
        password = value.get("password")
        username = value.get("username")
        unknown = set(value) - {"username", "password"}
        if unknown:
            names = ", ".join(sorted(str(k) for k in unknown))
            raise CredentialError(f"secrets file {path}: key {key!r} has unknown fields {names}")
        if isinstance(password, str | int | float) and not isinstance(password, bool):
            if username is not None and not isinstance(username, str):
                raise CredentialError(f"secrets file {path}: key {key!r} username must be text")
            return SecretEntry(username=username, password=str(password))
    raise CredentialError(
        f"secrets file {path}: key {key!r} must be a password or {{username, password}}"
    )


def _env(name: str, what: str) -> str:
    value = os.environ.get(name)
    if value is None:
        raise CredentialError(f"environment variable {name} ({what}) is not set")
    if value == "":
        raise CredentialError(f"environment variable {name} ({what}) is empty")
    return value


def resolve_credentials(ref: CredentialRef, secrets_file: Path | None) -> Credentials:
    """User name and password for `ref`, from the environment and/or the secrets file.

    The user name comes from `username`, else `username_env`, else the secret's `username`.
    Raises CredentialError naming the variable or key that is missing; never a value.
    """
    entry: SecretEntry | None = None
    if ref.secret is not None:
        if secrets_file is None:
            raise CredentialError(
                f"secret {ref.secret!r} is referenced but SHARPEYE_SECRETS_FILE is not set"
            )
        entry = load_secrets(secrets_file).get(ref.secret)
        if entry is None:
            raise CredentialError(f"secret {ref.secret!r} is not in secrets file {secrets_file}")
        password = entry.password
    elif ref.password_env is not None:
        password = _env(ref.password_env, "password")
    else:
        # The schema requires one of the two; a ref built with model_construct may not.
        raise CredentialError("credential reference has neither password_env nor secret")

    if ref.username is not None:
        username = ref.username
    elif ref.username_env is not None:
        username = _env(ref.username_env, "user name")
    elif entry is not None and entry.username is not None:
        username = entry.username
    else:
        source = f"secret {ref.secret!r}" if ref.secret else f"password_env {ref.password_env}"
        raise CredentialError(
            f"no user name for {source}: set username, username_env or the secret's username"
        )
    return Credentials(username=username, password=password)
