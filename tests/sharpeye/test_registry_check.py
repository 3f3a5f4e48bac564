"""`sharpeye check-registry`: one problem per line with file:line, exit codes 0 / 1 / 2."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from sharpeye.registry.check import check_registry

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
SHARPEYE = Path(sys.executable).parent / "sharpeye"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SHARPEYE), "check-registry", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_reports_every_problem_with_file_and_line() -> None:
    bad = DATA / "registry_many_problems.yaml"
    result = run_cli(str(bad))
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    expected = (DATA / "registry_many_problems.expected").read_text().splitlines()
    # Each problem on its own line, unwrapped, however long.
    assert lines[: len(expected)] == [e.replace("FILE", str(bad)) for e in expected]
    assert lines[-1] == f"{bad}: {len(expected)} problems"
    assert "hunter2" not in result.stdout + result.stderr


def test_cli_accepts_the_shipped_registry() -> None:
    result = run_cli(str(REPO / "camera_registry.yaml"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "OK: 7 departments, 8 groups, 13 cameras, 4 grants, 10 alarm rules"
    )


def test_cli_missing_file_exits_2(tmp_path: Path) -> None:
    result = run_cli(str(tmp_path / "absent.yaml"))
    assert result.returncode == 2
    assert "absent.yaml: cannot read" in result.stderr


def test_check_registry_in_process(tmp_path: Path) -> None:
    path = tmp_path / "camera_registry.yaml"
    path.write_text("version: 2\n")
    out, err = io.StringIO(), io.StringIO()
    code = check_registry(path, out=Console(file=out, width=40), err=Console(file=err, width=40))
    assert code == 1
    assert f"{path}:1: version: Input should be 1" in err.getvalue()
    assert f"{path}:1: district: required key is missing" in err.getvalue()
    assert out.getvalue() == ""
