"""The instance's evidence signing key: Ed25519, `<data_dir>/evidence_key` (PKCS#8 PEM, 0600).

Made once, by whichever process first exports (sharpeye.keyfile), and kept: every package the
instance ever signed verifies against it, so it must never be regenerated while its packages
are in use (back it up with the data dir). Every API replica of an instance must share it
(a shared data dir), as they share `audit_key`. Its public half is what `verify` compares a
package's key with; it is served by the API (`/api/evidence/key`) and printed as a
fingerprint so it can be read out and compared by a person.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sharpeye.keyfile import create_once

KEY_FILE = "evidence_key"


class BadKeyError(ValueError):
    """A key file that is not an Ed25519 key; `str()` says what it is instead."""


def _new_key() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def instance_key(data_dir: Path) -> Ed25519PrivateKey:
    """The instance's signing key, created on first use."""
    return _private(create_once(data_dir / KEY_FILE, _new_key), str(data_dir / KEY_FILE))


def existing_instance_key(data_dir: Path) -> Ed25519PublicKey:
    """The public half of the data dir's key; never creates one (FileNotFoundError instead):
    verifying against a key made on the spot would prove nothing."""
    path = data_dir / KEY_FILE
    return _private(path.read_bytes(), str(path)).public_key()


def _private(pem: bytes, where: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise BadKeyError(f"{where}: not a PEM private key ({e})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BadKeyError(f"{where}: a {type(key).__name__}, not an Ed25519 key")
    return key


def load_public_key(pem: bytes, where: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM: a public key, or the public half of a private one
    (so `--key` may name the instance's key file itself)."""
    # The PEM loader finds a key block anywhere in its input, even inside a package (its
    # public_key.pem is stored as is): a key file must be PEM from its first line.
    if not pem.lstrip().startswith(b"-----BEGIN "):
        raise BadKeyError(f"{where}: not a PEM file")
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return _private(pem, where).public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise BadKeyError(f"{where}: a {type(key).__name__}, not an Ed25519 key")
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def raw(key: Ed25519PublicKey) -> bytes:
    """The key's 32 bytes: what two keys are compared by."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(key: Ed25519PublicKey) -> str:
    """`sha256:<hex>` of the raw key: short enough to read out, and what manifests name."""
    return "sha256:" + hashlib.sha256(raw(key)).hexdigest()
