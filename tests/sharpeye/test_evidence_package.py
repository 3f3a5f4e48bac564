"""Export packages: one written by the platform verifies, and every way of altering one is
found and named (a media byte, the manifest, a file added or removed, another key, a member
name that would escape the folder it is unzipped into)."""

from __future__ import annotations

import hashlib
import json
import stat
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from sharpeye.evidence.keys import (
    BadKeyError,
    existing_instance_key,
    fingerprint,
    instance_key,
    load_public_key,
    public_pem,
)
from sharpeye.evidence.manifest import MediaFile
from sharpeye.evidence.package import MAX_MANIFEST_BYTES, read_manifest
from sharpeye.evidence.verify import Verdict, verify_package
from tests.sharpeye.evidence_samples import JPEG, MP4, make_package, member_offset, rewrite

SNAP, CLIP = "media/fire-1.jpg", "media/fire-1.mp4"


def lines(verdict: Verdict) -> list[str]:
    return [str(f) for f in verdict.findings]


def test_a_package_verifies_against_the_instance_key(tmp_path: Path) -> None:
    package, manifest = make_package(tmp_path)
    verdict = verify_package(package, existing_instance_key(tmp_path / "data"))
    assert verdict.intact, lines(verdict)
    assert verdict.key_checked and verdict.manifest == manifest
    assert verdict.key_fingerprint == manifest.key_fingerprint
    with zipfile.ZipFile(package) as zf:
        names = zf.namelist()
        assert names == [SNAP, CLIP, "manifest.json", "manifest.sig", "public_key.pem"]
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
        assert zf.read(SNAP) == JPEG and zf.read(CLIP) == MP4
        # What is signed is what is stored: canonical, sorted, compact JSON.
        body = zf.read("manifest.json")
    assert body == manifest.canonical()
    assert json.loads(body)["case"] == "FY-2027-0113 山火"
    assert [(f.path, f.size) for f in manifest.files] == [(SNAP, len(JPEG)), (CLIP, len(MP4))]
    assert read_manifest(package) == manifest


def test_without_the_instance_key_the_key_is_named_not_trusted(tmp_path: Path) -> None:
    package, manifest = make_package(tmp_path)
    verdict = verify_package(package)
    assert verdict.intact and not verdict.key_checked
    assert verdict.key_fingerprint == manifest.key_fingerprint


def test_one_changed_media_byte_is_found_and_the_file_named(tmp_path: Path) -> None:
    package, _ = make_package(tmp_path)
    # As a zip tool would save it (its own checksum recomputed): only the hash can tell.
    rewrite(package, lambda name, data: data[:100] + b"X" + data[101:] if name == CLIP else data)
    verdict = verify_package(package, existing_instance_key(tmp_path / "data"))
    assert len(verdict.findings) == 1, lines(verdict)
    assert verdict.findings[0].subject == CLIP
    assert "altered: SHA-256" in verdict.findings[0].problem


def test_a_byte_flipped_in_the_package_file_is_found_and_named(tmp_path: Path) -> None:
    package, _ = make_package(tmp_path)
    raw = bytearray(package.read_bytes())
    raw[member_offset(package, SNAP) + 10] ^= 0x01
    package.write_bytes(bytes(raw))
    verdict = verify_package(package, existing_instance_key(tmp_path / "data"))
    assert [f.subject for f in verdict.findings] == [SNAP], lines(verdict)
    assert "altered" in verdict.findings[0].problem


def test_a_media_file_grown_by_a_byte_is_found_by_its_size(tmp_path: Path) -> None:
    package, _ = make_package(tmp_path)
    rewrite(package, lambda name, data: data + b"\x00" if name == SNAP else data)
    verdict = verify_package(package, existing_instance_key(tmp_path / "data"))
    assert lines(verdict) == [
        f"{SNAP}: altered: {len(JPEG) + 1} bytes, the manifest says {len(JPEG)}"
    ]


def test_an_altered_manifest_fails_its_signature(tmp_path: Path) -> None:
    package, _ = make_package(tmp_path)

    def other_reason(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        return data.replace(b"prosecutor", b"press")

    rewrite(package, other_reason)
    verdict = verify_package(package, existing_instance_key(tmp_path / "data"))
    assert [f.subject for f in verdict.findings] == ["manifest.json"], lines(verdict)
    assert "signature does not verify" in verdict.findings[0].problem
    assert verdict.manifest is not None and "press" in verdict.manifest.reason


def test_a_manifest_rewritten_to_match_altered_media_still_fails(tmp_path: Path) -> None:
    # Whoever alters a file and fixes its hash in the manifest cannot fix the signature.
    package, manifest = make_package(tmp_path)
    forged_jpeg = JPEG.replace(b"\xff\xd9", b"\xff\xff\xd9")
    files = [
        MediaFile(
            path=SNAP,
            sha256=hashlib.sha256(forged_jpeg).hexdigest(),
            size=len(forged_jpeg),
            media_type="image/jpeg",
        ),
        manifest.files[1],
    ]
    forged = manifest.model_copy(update={"files": tuple(files)}).canonical()
    rewrite(
        package,
        lambda name, data: {SNAP: forged_jpeg, "manifest.json": forged}.get(name, data),
    )
    verdict = verify_package(package, existing_instance_key(tmp_path / "data"))
    assert [f.subject for f in verdict.findings] == ["manifest.json"], lines(verdict)


def test_an_added_file_is_found(tmp_path: Path) -> None:
    package, _ = make_package(tmp_path)
    rewrite(package, lambda _, data: data, extra=[("media/planted.jpg", JPEG)])
    verdict = verify_package(package, existing_instance_key(tmp_path / "data"))
    assert lines(verdict) == ["media/planted.jpg: added: not in the manifest"]


def test_a_removed_file_is_found(tmp_path: Path) -> None:
    package, _ = make_package(tmp_path)
    rewrite(package, lambda name, data: None if name == CLIP else data)
    verdict = verify_package(package, existing_instance_key(tmp_path / "data"))
    assert lines(verdict) == [f"{CLIP}: missing: listed in the manifest but not in the package"]


@pytest.mark.parametrize("control", ["manifest.json", "manifest.sig", "public_key.pem"])
def test_a_removed_control_file_is_found(tmp_path: Path, control: str) -> None:
    package, _ = make_package(tmp_path)
    rewrite(package, lambda name, data: None if name == control else data)
    verdict = verify_package(package, existing_instance_key(tmp_path / "data"))
    assert f"{control}: missing from the package" in lines(verdict)


def test_a_package_signed_by_another_key_is_reported_against_the_instance(
    tmp_path: Path,
) -> None:
    theirs = Ed25519PrivateKey.generate()
    package, _ = make_package(tmp_path, key=theirs)
    ours_key = instance_key(tmp_path / "data").public_key()
    # On its own it is a consistent package: only the instance's key tells it apart.
    assert verify_package(package).intact
    verdict = verify_package(package, ours_key)
    assert [f.subject for f in verdict.findings] == ["public_key.pem"], lines(verdict)
    problem = verdict.findings[0].problem
    assert fingerprint(theirs.public_key()) in problem and fingerprint(ours_key) in problem


def test_a_manifest_re_signed_with_a_swapped_key_is_reported(tmp_path: Path) -> None:
    package, manifest = make_package(tmp_path)
    theirs = Ed25519PrivateKey.generate()
    forged = manifest.model_copy(
        update={"reason": "nothing happened", "key_fingerprint": fingerprint(theirs.public_key())}
    ).canonical()
    swap = {
        "manifest.json": forged,
        "manifest.sig": theirs.sign(forged),
        "public_key.pem": public_pem(theirs.public_key()),
    }
    rewrite(package, lambda name, data: swap.get(name, data))
    verdict = verify_package(package, existing_instance_key(tmp_path / "data"))
    assert [f.subject for f in verdict.findings] == ["public_key.pem"], lines(verdict)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../../etc/cron.d/evil", "'..'"),
        ("media/../../evil.jpg", "'..'"),
        ("/etc/passwd", "absolute"),
        ("C:/Windows/evil.dll", "absolute"),
        ("media\\..\\..\\evil.jpg", "backslash"),
        ("media//evil.jpg", "plain"),
    ],
)
def test_a_zip_slip_member_is_refused(tmp_path: Path, name: str, why: str) -> None:
    package, _ = make_package(tmp_path)
    rewrite(package, lambda _, data: data, extra=[(name, b"payload")])
    verdict = verify_package(package, existing_instance_key(tmp_path / "data"))
    assert len(verdict.findings) == 1, lines(verdict)
    assert verdict.findings[0].subject == repr(name)
    assert "member refused" in verdict.findings[0].problem and why in verdict.findings[0].problem


def test_a_symbolic_link_member_is_refused(tmp_path: Path) -> None:
    package, _ = make_package(tmp_path)
    link = zipfile.ZipInfo("media/link.jpg")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(package, "a") as zf:
        zf.writestr(link, "/etc/shadow")
    verdict = verify_package(package, existing_instance_key(tmp_path / "data"))
    assert lines(verdict) == ["'media/link.jpg': member refused: a symbolic link"]


def test_a_member_given_twice_is_refused(tmp_path: Path) -> None:
    package, _ = make_package(tmp_path)
    rewrite(package, lambda _, data: data, extra=[(SNAP, b"another picture")])
    verdict = verify_package(package, existing_instance_key(tmp_path / "data"))
    assert lines(verdict) == [f"{SNAP}: in the package 2 times: a member was added"]


def test_an_oversized_manifest_is_not_read(tmp_path: Path) -> None:
    package, _ = make_package(tmp_path)
    huge = b"{" + b" " * MAX_MANIFEST_BYTES + b"}"
    rewrite(package, lambda name, data: huge if name == "manifest.json" else data)
    verdict = verify_package(package, existing_instance_key(tmp_path / "data"))
    assert "manifest.json" in [f.subject for f in verdict.findings]
    assert any("larger than" in f.problem for f in verdict.findings), lines(verdict)


def test_what_is_not_a_zip_is_said_so(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.zip"
    bogus.write_bytes(b"this is no package")
    verdict = verify_package(bogus)
    assert [f.subject for f in verdict.findings] == ["package"]
    assert not verdict.intact


def test_the_instance_key_is_made_once_private_and_never_by_verify(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with pytest.raises(FileNotFoundError):
        existing_instance_key(data)
    assert not (data / "evidence_key").exists()
    first = instance_key(data)
    assert stat.S_IMODE((data / "evidence_key").stat().st_mode) == 0o600
    again = instance_key(data)
    assert fingerprint(first.public_key()) == fingerprint(again.public_key())
    assert fingerprint(existing_instance_key(data)) == fingerprint(first.public_key())


@pytest.mark.parametrize("path", ["media/../x.jpg", "x.jpg", "media/.hidden", "media/a/b.jpg"])
def test_a_manifest_cannot_name_a_file_outside_media(path: str) -> None:
    with pytest.raises(ValidationError):
        MediaFile(path=path, sha256="0" * 64, size=1, media_type="image/jpeg")


def test_a_key_must_be_a_pem_file_not_one_containing_a_key(tmp_path: Path) -> None:
    # The PEM loader would find the package's own public_key.pem inside the zip's bytes.
    package, _ = make_package(tmp_path)
    with pytest.raises(BadKeyError, match="not a PEM file"):
        load_public_key(package.read_bytes(), "package.zip")
    pem = public_pem(existing_instance_key(tmp_path / "data"))
    assert fingerprint(load_public_key(pem, "pem")) == read_manifest(package).key_fingerprint
    # The instance's private key file gives its public half.
    private = (tmp_path / "data" / "evidence_key").read_bytes()
    assert fingerprint(load_public_key(private, "evidence_key")) == fingerprint(
        existing_instance_key(tmp_path / "data")
    )
