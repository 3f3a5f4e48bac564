"""Password hashing with argon2id (parameters and salt stored inside the hash)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
# Verifying against this when the user does not exist keeps the response time the same,
# so login timing does not reveal which user names exist.
_dummy_hash = _hasher.hash("not-a-real-password")
# Password checks run by this process (argon2 work): the login throttle's tests count them.
checks_done = 0


def use_cheap_hashing_for_tests() -> None:
    """Minimal argon2 cost: test suites create and log in hundreds of users. Hashes made
    with it still verify in production (parameters live in each hash), so never call it
    outside tests."""
    global _hasher, _dummy_hash
    _hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    _dummy_hash = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    global checks_done
    checks_done += 1
    try:
        return _hasher.verify(password_hash or _dummy_hash, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
