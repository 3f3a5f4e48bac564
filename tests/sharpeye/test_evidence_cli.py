"""`sharpeye evidence verify` run as a process on a real package: 0 and a summary when
intact, 1 and one line per finding when altered, 2 when there is nothing to check against."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sharpeye.evidence.keys import existing_instance_key, public_pem
from tests.sharpeye.evidence_samples import make_package, rewrite

TIMEOUT_S = 60  # a hang guard: the interpreter starts in about a second


def verify(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sharpeye.cli", "evidence", "verify", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def test_an_intact_package_exits_0_and_says_what_it_holds(tmp_path: Path) -> None:
    package, manifest = make_package(tmp_path)
    pem = tmp_path / "instance.pem"
    pem.write_bytes(public_pem(existing_instance_key(tmp_path / "data")))
    for option, value in (("--key", pem), ("--data-dir", tmp_path / "data")):
        done = verify(package, option, value)
        assert done.returncode == 0, done.stdout + done.stderr
        first, second = done.stdout.splitlines()
        assert first.startswith("intact: package.zip: 2 file(s) match the signed manifest")
        assert f"the instance's key {manifest.key_fingerprint}" in first
        assert manifest.export_id in second and "FY-2027-0113 山火" in second
        assert "NOT checked" not in done.stderr


def test_without_a_key_it_names_the_key_and_says_it_was_not_checked(tmp_path: Path) -> None:
    package, manifest = make_package(tmp_path)
    done = verify(package)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"key (not checked) {manifest.key_fingerprint}" in done.stdout
    assert "NOT checked against the instance's key" in done.stderr


def test_an_altered_package_exits_1_with_one_line_per_finding(tmp_path: Path) -> None:
    package, _ = make_package(tmp_path)

    def alter(name: str, data: bytes) -> bytes | None:
        if name == "media/fire-1.jpg":
            return data[:50] + b"\x00" + data[51:]
        return None if name == "media/fire-1.mp4" else data

    rewrite(package, alter, extra=[("../planted.sh", b"#!/bin/sh\n")])
    done = verify(package, "--data-dir", tmp_path / "data")
    assert done.returncode == 1, done.stdout + done.stderr
    found = done.stdout.splitlines()
    assert len(found) == 3, found
    assert found[0] == "'../planted.sh': member refused: '..' in the path: it would be " + (
        "unpacked outside the folder"
    )
    assert found[1].startswith("media/fire-1.jpg: altered: SHA-256")
    assert found[2] == "media/fire-1.mp4: missing: listed in the manifest but not in the package"


def test_nothing_to_check_against_exits_2(tmp_path: Path) -> None:
    package, _ = make_package(tmp_path)
    assert verify(tmp_path / "absent.zip").returncode == 2
    empty = tmp_path / "empty-data"
    empty.mkdir()
    done = verify(package, "--data-dir", empty)
    assert done.returncode == 2 and "evidence_key" in done.stderr
    assert not (empty / "evidence_key").exists()  # verify never makes a key
    assert verify(package, "--key", package).returncode == 2  # not a key
