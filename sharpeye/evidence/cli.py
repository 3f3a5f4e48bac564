"""Console side of `sharpeye evidence verify`: plain lines (a script or a court clerk reads
them), the exit code says the verdict: 0 intact, 1 altered (one line per finding), 2 when
there is nothing to check (no such package, an unreadable key)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from sharpeye.evidence.keys import BadKeyError, existing_instance_key, load_public_key
from sharpeye.evidence.manifest import Manifest
from sharpeye.evidence.package import MAX_KEY_BYTES
from sharpeye.evidence.verify import Verdict, verify_package

UNCHECKED = (
    "the package's key was NOT checked against the instance's key "
    "(give --key PEM from /api/evidence/key, or --data-dir of the instance)"
)


def verify_command(
    package: Path,
    key: Path | None = None,
    data_dir: Path | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    if key is not None and data_dir is not None:
        print("error: give --key or --data-dir, not both", file=err)
        return 2
    if not package.is_file():
        print(f"error: {package}: no such file", file=err)
        return 2
    try:
        if key is not None:
            with key.open("rb") as f:
                pem = f.read(MAX_KEY_BYTES + 1)  # a key, not whatever large file was named
            if len(pem) > MAX_KEY_BYTES:
                raise BadKeyError(f"{key}: too large to be a key")
            instance = load_public_key(pem, str(key))
        elif data_dir is not None:
            instance = existing_instance_key(data_dir)
        else:
            instance = None
    except (OSError, BadKeyError) as e:
        print(f"error: the instance's key: {e}", file=err)
        return 2
    verdict = verify_package(package, instance)
    for finding in verdict.findings:
        print(finding, file=out)
    if not verdict.key_checked:
        print(f"note: {UNCHECKED}", file=err)
    if not verdict.intact:
        return 1
    print(_intact(package, verdict), file=out)
    if verdict.manifest is not None:
        print(describe(verdict.manifest), file=out)
    return 0


def _intact(package: Path, verdict: Verdict) -> str:
    files = len(verdict.manifest.files) if verdict.manifest else 0
    whose = "the instance's key" if verdict.key_checked else "key (not checked)"
    return (
        f"intact: {package.name}: {files} file(s) match the signed manifest; "
        f"signed by {whose} {verdict.key_fingerprint}"
    )


def describe(m: Manifest) -> str:
    """The manifest in one line: what, when, who, why."""
    if m.start is None:
        when = f"ending {m.end.isoformat()}"
    elif m.start == m.end:
        when = m.end.isoformat()
    else:
        when = f"{m.start.isoformat()} to {m.end.isoformat()}"
    return (
        f"export {m.export_id} of {m.evidence_ref} (camera {m.camera.id}, {when}) "
        f"from {m.instance.id}, case {m.case!r}, by {m.exported_by.actor} "
        f"({m.exported_by.department}) at {m.exported_at.isoformat()}: {m.reason!r}"
    )
