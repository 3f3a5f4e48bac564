"""Writing an export package, and reading members of one without trusting it.

A package is a zip, stored without compression (MP4 and JPEG do not compress): the media
under `media/`, then `manifest.json`, `manifest.sig` and `public_key.pem`. Each media file
is hashed while it is copied in, in chunks, so a file of any size costs one pass and a
chunk of memory, and the hash is of exactly the bytes the package holds (a clip still being
written cannot differ between the hash and the copy). The package is written beside its
destination and renamed into place: a package at its path is always complete.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sharpeye.evidence.keys import fingerprint, public_pem
from sharpeye.evidence.manifest import (
    MANIFEST,
    MEDIA_DIR,
    NAME,
    PUBLIC_KEY,
    SIGNATURE,
    Export,
    Manifest,
    MediaFile,
)

CHUNK = 1024 * 1024
# What a control member may hold: a manifest of 256 files is a few tens of kilobytes.
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_SIGNATURE_BYTES = 1024
MAX_KEY_BYTES = 16 * 1024
# Regular file, rw-r--r--, in the zip's external attributes (so unzip makes plain files).
_FILE_ATTR = 0o100644 << 16


class MemberTooLarge(ValueError):  # noqa: N818 (reads as what it is: a member too large)
    """A member holds more than the reader allows."""


@dataclass(frozen=True)
class Media:
    """A file to export: where it is, its name in the package, what it is."""

    source: Path
    name: str
    media_type: str


def write_package(
    dest: Path, export: Export, media: Sequence[Media], key: Ed25519PrivateKey
) -> Manifest:
    """Write the package for `export` of `media` to `dest`, signed with `key`."""
    names = [m.name for m in media]
    bad = [n for n in names if not NAME.match(n)]
    if bad or len(set(names)) != len(names) or not names:
        raise ValueError(f"media names must be distinct plain names, got {names}")
    stamp = export.exported_at.utctimetuple()[:6]
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_STORED) as zf:
            files = tuple(_copy_in(zf, m, stamp) for m in media)
            manifest = Manifest(
                **export.model_dump(),
                files=files,
                key_fingerprint=fingerprint(key.public_key()),
            )
            body = manifest.canonical()
            _write(zf, MANIFEST, body, stamp)
            _write(zf, SIGNATURE, key.sign(body), stamp)
            _write(zf, PUBLIC_KEY, public_pem(key.public_key()), stamp)
        with part.open("rb") as f:
            os.fsync(f.fileno())  # evidence: on disk before it is announced
        part.replace(dest)
    finally:
        part.unlink(missing_ok=True)
    return manifest


def _info(name: str, stamp: tuple[int, int, int, int, int, int], size: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = _FILE_ATTR
    info.file_size = size  # lets zipfile choose ZIP64 headers for a file past 2 GiB
    return info


def _copy_in(
    zf: zipfile.ZipFile, media: Media, stamp: tuple[int, int, int, int, int, int]
) -> MediaFile:
    name = MEDIA_DIR + media.name
    digest = hashlib.sha256()
    size = 0
    with media.source.open("rb") as src:
        info = _info(name, stamp, os.fstat(src.fileno()).st_size)
        # A clip may still grow while it is copied: ZIP64 whenever it could pass the limit.
        big = info.file_size > zipfile.ZIP64_LIMIT // 2
        with zf.open(info, "w", force_zip64=big) as out:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    return MediaFile(path=name, sha256=digest.hexdigest(), size=size, media_type=media.media_type)


def _write(
    zf: zipfile.ZipFile, name: str, data: bytes, stamp: tuple[int, int, int, int, int, int]
) -> None:
    zf.writestr(_info(name, stamp, len(data)), data)


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """A member's bytes, at most `limit`: the size its header declares is not trusted."""
    with zf.open(info) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise MemberTooLarge(f"larger than {limit} bytes")
    return data


def hash_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    """SHA-256 of a member's bytes, read in chunks (a member of any size)."""
    digest = hashlib.sha256()
    with zf.open(info) as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(package: Path) -> Manifest:
    """The manifest of a package this instance wrote (its signature is `verify`'s business)."""
    with zipfile.ZipFile(package) as zf:
        return Manifest.model_validate_json(
            read_member(zf, zf.getinfo(MANIFEST), MAX_MANIFEST_BYTES)
        )
