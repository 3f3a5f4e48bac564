"""Regenerate benchmarks/RESULTS.md from every benchmarks/results/<name>.json."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.common import RESULTS

HEADER = """# Benchmark results

Each figure sits beside an anchor measured in the same run on the same machine. Regenerate
with `.venv/bin/python -m benchmarks.<name>` then `.venv/bin/python -m benchmarks.summarize`.
"""


def main() -> None:
    out = [HEADER]
    for path in sorted(RESULTS.glob("*.json")):
        if path.name.endswith(".rows.json"):
            continue
        records = json.loads(path.read_text())
        if not isinstance(records, list) or not records:
            continue
        name = path.stem
        out.append(f"\n## {name}\n")
        plot = path.with_suffix(".png")
        if plot.exists():
            out.append(f"![{name}](results/{plot.name})\n")
        out.append("| figure | value | anchor | anchor value | ratio | goal |")
        out.append("|---|---|---|---|---|---|")
        for r in records:
            ratio = r["value"] / r["anchor_value"] if r.get("anchor_value") else float("nan")
            out.append(
                f"| {r['figure']} | {r['value']:g} {r['unit']} | {r['anchor']} "
                f"| {r['anchor_value']:g} | {ratio:.2f}× | {r['goal']} |"
            )
        first = records[0]
        out.append(f"\nMachine: {first['machine']}; date: {first['date']}.")
        notes = path.with_suffix(".md")
        if notes.exists():
            out.append("\n" + notes.read_text().strip())
    target = Path(__file__).resolve().parent / "RESULTS.md"
    target.write_text("\n".join(out) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
