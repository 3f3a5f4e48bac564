"""Imports only go down, and no module imports itself around a circle (issue 12).

The layers are written down once, here (ARCHITECTURE.md draws the same picture):

    sharpeye/ (foundation) → camera/ → analytics/ (a library) → ingest/, relay/, command_api/

A module may import its own package and any package on a lower floor, never one above and
never a sibling service: services talk through `sharpeye` contracts (Redis, the store, HTTP).
The CLI and `sharpeye up` are the top floor, but they live in `sharpeye/` and reach the
services only through entry points (`sharpeye.commands`, `sharpeye.demo` in pyproject.toml),
never by an import. Inside command_api the web layer (`deps`, `routers`, `app`, `server`)
sits on top of the domain packages (`alarms`, `auth`, `audit`, `delivery`, `live`).

Every import counts: module level, inside functions, and under `if TYPE_CHECKING:` (a type
is knowledge of the layer too). Imports are read with `ast`, nothing is imported.

What the camera/ extraction has not removed yet is in `ALLOWED`, each with the issue-12 step
that removes it. The test fails on a new violation and on an allowed one that is gone, so
the list only shrinks: delete the line when its step lands.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Bottom to top. Packages on one floor are siblings: none may import another.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("sharpeye",),
    ("camera",),
    ("analytics",),
    ("ingest", "relay", "command_api"),
)
# Above every layer, may import any of them; scanned for circles only.
TOP = ("benchmarks",)

# Inside one package: (lower, upper) module prefixes; `lower` may not import `upper`.
INNER: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (
        (
            "command_api.alarms",
            "command_api.auth",
            "command_api.audit",
            "command_api.delivery",
            "command_api.live",
        ),
        ("command_api.deps", "command_api.routers", "command_api.app", "command_api.server"),
    ),
)

# (importing module, imported module) pairs still allowed, each naming its issue-12 step.
ALLOWED: frozenset[tuple[str, str]] = frozenset()


# Circles of modules still allowed (type-only back edges count: a circle in the types is one
# in the design), each with what removes it.
ALLOWED_CIRCLES: frozenset[frozenset[str]] = frozenset(
    {
        # Not an issue-12 step: the schema runs the cross-reference checks (verify, imported
        # in the validator) and the rules and checks annotate with the schema's models
        # (type-only). Goes when verify takes the registry through a protocol.
        frozenset(
            {
                "sharpeye.registry.alarm_rules",
                "sharpeye.registry.schema",
                "sharpeye.registry.verify",
            }
        ),
    }
)


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module (the deepest that exists in the tree, else as written)
    line: int
    type_only: bool = False  # under `if TYPE_CHECKING:`


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for layer in (*LAYERS, TOP):
        for package in layer:
            base = ROOT / package
            if base.is_dir():
                for path in sorted(base.rglob("*.py")):
                    found[_module_name(path)] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str:
    """`a.b.c` → the deepest of `a.b.c`, `a.b`, `a` that is a module of ours."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return name


def _type_only(tree: ast.Module) -> set[int]:
    """Ids of the import nodes under `if TYPE_CHECKING:` (no import at run time)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        test = node.test if isinstance(node, ast.If) else None
        if isinstance(test, ast.Name | ast.Attribute) and ast.unparse(test).endswith(
            "TYPE_CHECKING"
        ):
            for stmt in node.body:
                found.update(id(n) for n in ast.walk(stmt))
    return found


def _imports(module: str, path: Path, modules: dict[str, Path]) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    type_only = _type_only(tree)
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):  # every import: module level, in functions, TYPE_CHECKING
        typed = id(node) in type_only
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, _resolve(alias.name, modules), node.lineno, typed)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for alias in node.names:
                # `from pkg import sub` names a submodule when one exists.
                target = _resolve(f"{prefix}.{alias.name}", modules)
                yield Import(module, target, node.lineno, typed)


def _graph() -> tuple[dict[str, Path], list[Import]]:
    modules = _modules()
    edges = [i for m, p in modules.items() for i in _imports(m, p, modules)]
    return modules, [e for e in edges if e.target in modules and e.target != e.source]


def _floor(module: str) -> int | None:
    top = module.split(".")[0]
    for level, layer in enumerate(LAYERS):
        if top in layer:
            return level
    return None


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _violation(edge: Import) -> str | None:
    src_top, dst_top = edge.source.split(".")[0], edge.target.split(".")[0]
    src, dst = _floor(edge.source), _floor(edge.target)
    if src is not None and dst is not None and src_top != dst_top:
        if dst > src:
            return f"{src_top} (floor {src}) imports {dst_top} above it (floor {dst})"
        if dst == src:
            return f"{src_top} imports its sibling service {dst_top}"
    for lower, upper in INNER:
        if _under(edge.source, lower) and _under(edge.target, upper):
            return "a domain module imports the web layer above it"
    return None


def _cycles(nodes: list[str], edges: list[Import]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for e in edges:
        succ[e.source].append(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = succ[node]
            if i < len(children):
                work.append((node, i + 1))
                child = children[i]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_check_reads_every_kind_of_import(tmp_path: Path) -> None:
    """The parser sees function-local, TYPE_CHECKING and relative imports."""
    modules = {"pkg": ROOT, "pkg.a": ROOT, "pkg.b": ROOT, "pkg.b.c": ROOT, "other": ROOT}
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import b\n"
        "from .b import c\n"
        "if TYPE_CHECKING:\n    import other\n"
        "def f() -> None:\n    from pkg.b.c import thing\n"
    )
    probe = tmp_path / "a.py"
    probe.write_text(source, encoding="utf-8")
    found = {i.target: i.type_only for i in _imports("pkg.a", probe, modules)}
    assert found.items() >= {("pkg.b", False), ("pkg.b.c", False), ("other", True)}
    assert _cycles(["a", "b", "c"], [Import("a", "b", 1), Import("b", "a", 1)]) == [["a", "b"]]


def test_imports_only_go_down() -> None:
    _, edges = _graph()
    bad: dict[tuple[str, str], str] = {}
    for edge in edges:
        why = _violation(edge)
        if why is not None:
            bad.setdefault((edge.source, edge.target), f"{edge.source}:{edge.line}: {why}")
    new = sorted(text for pair, text in bad.items() if pair not in ALLOWED)
    assert not new, "imports that go up or sideways (see LAYERS):\n" + "\n".join(new)
    gone = sorted(f"{s} → {t}" for s, t in ALLOWED - bad.keys())
    assert not gone, "fixed, so delete from ALLOWED (the list only shrinks):\n" + "\n".join(gone)


def test_no_import_circles() -> None:
    modules, edges = _graph()
    circles = {frozenset(c) for c in _cycles(sorted(modules), edges)}
    new = sorted(" ↔ ".join(sorted(c)) for c in circles - ALLOWED_CIRCLES)
    assert not new, "modules importing each other around a circle:\n" + "\n".join(new)
    gone = sorted(" ↔ ".join(sorted(c)) for c in ALLOWED_CIRCLES - circles)
    assert not gone, "broken (or changed), so update ALLOWED_CIRCLES:\n" + "\n".join(gone)
