"""Export packages for the evidence tests: real files, a real key, and ways to alter them."""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sharpeye.evidence.keys import instance_key
from sharpeye.evidence.manifest import Camera, Export, Exporter, Instance, Manifest
from sharpeye.evidence.package import Media, write_package

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9"
MP4 = b"\x00\x00\x00\x18ftypisom" + b"\x00\x00\x02\x00isomiso2" + bytes(range(200)) * 40
TAKEN = datetime(2027, 1, 13, 4, 0, 0, tzinfo=UTC)


def export(export_id: str = "ex-20270113-0123456789ab") -> Export:
    return Export(
        export_id=export_id,
        instance=Instance(id="demo", name="Demo District", node="node-1"),
        camera=Camera(id="forest-lookout-1", name="Forest lookout 1"),
        evidence_ref="events/forest-lookout-1/20270113/fire-1.jpg",
        start=TAKEN,
        end=TAKEN,
        exported_at=datetime(2027, 1, 14, 9, 30, tzinfo=UTC),
        exported_by=Exporter(actor="m-investigator", department="forestry"),
        case="FY-2027-0113 山火",
        reason="Fire at the lookout: evidence for the prosecutor",
    )


def make_package(
    tmp: Path, key: Ed25519PrivateKey | None = None, name: str = "package.zip"
) -> tuple[Path, Manifest]:
    """A package of a snapshot and a clip, signed by the key of `tmp/data` (or `key`)."""
    media_dir = tmp / "media-src"
    media_dir.mkdir(exist_ok=True)
    (media_dir / "fire-1.jpg").write_bytes(JPEG)
    (media_dir / "fire-1.mp4").write_bytes(MP4)
    media = [
        Media(media_dir / "fire-1.jpg", "fire-1.jpg", "image/jpeg"),
        Media(media_dir / "fire-1.mp4", "fire-1.mp4", "video/mp4"),
    ]
    signer = key if key is not None else instance_key(tmp / "data")
    dest = tmp / name
    return dest, write_package(dest, export(), media, signer)


def rewrite(
    package: Path,
    change: Callable[[str, bytes], bytes | None],
    extra: list[tuple[str, bytes]] | None = None,
) -> None:
    """Rebuild `package` as a zip tool would: each member through `change(name, data)`
    (None drops it), then `extra` members appended; every checksum consistent."""
    with zipfile.ZipFile(package) as zf:
        members = [(i.filename, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(package, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": some tests want one
        for name, data in members:
            new = change(name, data)
            if new is not None:
                zf.writestr(name, new)
        for name, data in extra or []:
            zf.writestr(name, data)


def member_offset(package: Path, name: str) -> int:
    """Where a stored member's bytes start in the package file."""
    with zipfile.ZipFile(package) as zf:
        start = zf.getinfo(name).header_offset
    raw = package.read_bytes()
    # The local header: 30 bytes, then the name and the extra field, then the data.
    name_len = int.from_bytes(raw[start + 26 : start + 28], "little")
    extra_len = int.from_bytes(raw[start + 28 : start + 30], "little")
    return start + 30 + name_len + extra_len
