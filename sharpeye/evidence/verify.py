"""Checking an export package offline, and saying exactly what in it was altered.

Nothing in the package is taken on trust: member names are checked before anything is read
(a name that would escape a folder when unzipped, a link, a name given twice), control
members are read up to a bound whatever their headers say, and media are hashed in chunks
and only when their size is the one the manifest states (a forged header cannot make the
check read more than the manifest claims). The key inside the package proves only that the
manifest was not altered since someone signed it; whether that someone is the instance is
decided by comparing it with the instance's key, which the caller supplies.

Each finding names the member it is about: a media file whose hash differs, the manifest
whose signature fails, a file added or missing, a key that is not the instance's.
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from sharpeye.evidence.keys import BadKeyError, fingerprint, load_public_key, raw
from sharpeye.evidence.manifest import CONTROL, MANIFEST, PUBLIC_KEY, SIGNATURE, Manifest
from sharpeye.evidence.package import (
    MAX_KEY_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_SIGNATURE_BYTES,
    MemberTooLarge,
    hash_member,
    read_member,
)

# A package holds its media and three control files; thousands of members is not one.
MAX_MEMBERS = 1000
_LIMITS = {MANIFEST: MAX_MANIFEST_BYTES, SIGNATURE: MAX_SIGNATURE_BYTES, PUBLIC_KEY: MAX_KEY_BYTES}
# What reading a damaged or hostile member can raise (CRC mismatch, bad header, encryption,
# an unknown compression, a truncated archive).
_UNREADABLE = (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, OSError, EOFError)


@dataclass(frozen=True)
class Finding:
    subject: str  # the member's name, or "package"
    problem: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.problem}"


@dataclass(frozen=True)
class Verdict:
    findings: tuple[Finding, ...]
    manifest: Manifest | None
    key_fingerprint: str | None  # the key inside the package
    key_checked: bool  # compared with the instance's key

    @property
    def intact(self) -> bool:
        return not self.findings


def unsafe_name(info: zipfile.ZipInfo) -> str | None:
    """Why a member's name must not be used (None: a plain relative path)."""
    name = info.orig_filename  # zipfile cuts a name at NUL; the original keeps it
    if "\x00" in name or any(ord(c) < 0x20 for c in name):
        return "control characters in the name"
    if "\\" in name:
        return "a backslash in the name (a folder separator on Windows)"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    parts = name.split("/")
    if ".." in parts:
        return "'..' in the path: it would be unpacked outside the folder"
    if any(p in ("", ".") for p in parts) or len(name) > 255:
        return "not a plain relative file name"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link"
    return None


def verify_package(path: Path, instance_key: Ed25519PublicKey | None = None) -> Verdict:
    """Check the package at `path`; with `instance_key`, also that the instance signed it."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        return Verdict(
            (Finding("package", f"not a readable zip package ({e})"),), None, None, False
        )
    with zf:
        return _Check(zf).run(instance_key)


class _Check:
    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.findings: list[Finding] = []
        self.members: dict[str, zipfile.ZipInfo] = {}
        # Names that are in the package but not usable (unsafe, duplicated): reported once.
        self.reported: set[str] = set()

    def add(self, subject: str, problem: str) -> None:
        self.findings.append(Finding(subject, problem))

    def run(self, instance_key: Ed25519PublicKey | None) -> Verdict:
        infos = self.zf.infolist()
        if len(infos) > MAX_MEMBERS:
            self.add(
                "package", f"{len(infos)} members: not an export package (at most {MAX_MEMBERS})"
            )
            return self.verdict(None, None, checked=False)
        self.index(infos)
        body = self.control(MANIFEST)
        signature = self.control(SIGNATURE)
        key = self.package_key()
        if body is not None and signature is not None and key is not None:
            try:
                key.verify(signature, body)
            except InvalidSignature:
                self.add(
                    MANIFEST, "signature does not verify: the manifest was altered after signing"
                )
        checked = key is not None and instance_key is not None
        if key is not None and instance_key is not None and raw(key) != raw(instance_key):
            self.add(
                PUBLIC_KEY,
                f"signed by key {fingerprint(key)}, not the instance's key "
                f"{fingerprint(instance_key)}",
            )
        manifest = self.manifest(body, key)
        self.media(manifest)
        return self.verdict(manifest, key, checked)

    def verdict(
        self, manifest: Manifest | None, key: Ed25519PublicKey | None, checked: bool
    ) -> Verdict:
        found = fingerprint(key) if key is not None else None
        return Verdict(tuple(self.findings), manifest, found, checked)

    def index(self, infos: list[zipfile.ZipInfo]) -> None:
        counts = Counter(i.orig_filename for i in infos)
        for info in infos:
            name = info.orig_filename
            if name in self.reported:
                continue
            why = unsafe_name(info)
            if why is not None:
                self.add(repr(name), f"member refused: {why}")
                self.reported.add(name)
            elif counts[name] > 1:
                # Which copy an unzip tool keeps differs: neither is trusted.
                self.add(name, f"in the package {counts[name]} times: a member was added")
                self.reported.add(name)
            else:
                self.members[name] = info

    def control(self, name: str) -> bytes | None:
        info = self.members.get(name)
        if info is None:
            if name not in self.reported:
                self.add(name, "missing from the package")
            return None
        try:
            return read_member(self.zf, info, _LIMITS[name])
        except MemberTooLarge as e:
            self.add(name, f"{e}: not what the platform writes")
        except _UNREADABLE as e:
            self.add(name, f"cannot be read, its bytes were altered ({e})")
        return None

    def package_key(self) -> Ed25519PublicKey | None:
        pem = self.control(PUBLIC_KEY)
        if pem is None:
            return None
        try:
            return load_public_key(pem, PUBLIC_KEY)
        except BadKeyError as e:
            self.add(
                PUBLIC_KEY, f"not an Ed25519 public key ({str(e).removeprefix(PUBLIC_KEY + ': ')})"
            )
            return None

    def manifest(self, body: bytes | None, key: Ed25519PublicKey | None) -> Manifest | None:
        if body is None:
            return None
        try:
            manifest = Manifest.model_validate_json(body)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            self.add(MANIFEST, f"not a valid manifest ({where}: {first['msg']})")
            return None
        if key is not None and manifest.key_fingerprint != fingerprint(key):
            self.add(
                MANIFEST,
                f"names signing key {manifest.key_fingerprint}, but the package holds "
                f"{fingerprint(key)}",
            )
        return manifest

    def media(self, manifest: Manifest | None) -> None:
        listed = {f.path for f in manifest.files} if manifest is not None else set()
        for name in sorted(set(self.members) - listed - set(CONTROL)):
            what = "added: not in the manifest" if manifest is not None else "not accounted for"
            self.add(name, what)
        if manifest is None:
            return
        for f in manifest.files:
            info = self.members.get(f.path)
            if info is None:
                if f.path not in self.reported:
                    self.add(f.path, "missing: listed in the manifest but not in the package")
                continue
            if info.file_size != f.size:
                # Not hashed: a size that differs already says it was altered, and a forged
                # size must not make the check read without end.
                self.add(f.path, f"altered: {info.file_size} bytes, the manifest says {f.size}")
                continue
            try:
                digest = hash_member(self.zf, info)
            except _UNREADABLE as e:
                self.add(f.path, f"altered: its bytes no longer match the package's record ({e})")
                continue
            if digest != f.sha256:
                self.add(f.path, f"altered: SHA-256 {digest}, the manifest says {f.sha256}")
