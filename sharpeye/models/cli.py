"""Console side of `sharpeye models`: each function returns the process exit code."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from sharpeye.models.manifest import ModelError, load_manifest, model_path


def pull(data_dir: Path, names: list[str], *, force: bool = False) -> int:
    from sharpeye.models.provision import pull as run
    from sharpeye.models.samples import pull_samples

    console = Console(stderr=True)
    try:
        for e in run(data_dir, names or None, force=force):
            console.print(f"[green]ok[/] {e.name} ({e.task}) ← {e.source}")
        if not names:
            pull_samples(data_dir)  # test and demo photos ride along with the defaults
    except ModelError as e:
        console.print(f"[red]error:[/] {e}")
        return 1
    return 0


def show(data_dir: Path) -> int:
    manifest = load_manifest(data_dir)
    table = Table("name", "task", "layout", "input", "classes", "source", "licence", "state")
    bad = 0
    for m in manifest.models:
        try:
            if m.file:
                model_path(data_dir, m)
            state = "ok"
        except ModelError as e:
            state, bad = f"[red]{e}[/]", bad + 1
        size = f"{m.input_size[0]}×{m.input_size[1]}" if m.input_size else "-"
        table.add_row(
            m.name, m.task, m.layout, size, str(len(m.classes) or "-"), m.source, m.licence, state
        )
    Console().print(table)
    return 1 if bad else 0


def import_file(data_dir: Path, file: Path, name: str | None) -> int:
    from sharpeye.models.yolo_import import import_model

    try:
        e = import_model(data_dir, file, name)
    except ModelError as err:
        Console(stderr=True).print(f"[red]error:[/] {err}")
        return 1
    Console(stderr=True).print(
        f"[green]imported[/] {e.name}: {e.input_size}, {len(e.classes)} classes"
    )
    return 0
