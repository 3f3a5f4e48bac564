"""`sharpeye check-registry FILE`: validate a registry and print every problem, one per line."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from rich.console import Console

from sharpeye.registry.errors import RegistryError
from sharpeye.registry.loader import load_registry
from sharpeye.registry.schema import Registry

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_UNREADABLE = 2

# Small files load in milliseconds; a spinner that flashes for that is noise.
_SPINNER_AFTER_S = 0.5


def check_registry(path: Path, *, out: Console | None = None, err: Console | None = None) -> int:
    """Validate `path`; 0 if valid, 1 if it has problems, 2 if it cannot be read."""
    # soft_wrap and no markup: each problem stays on one line, "cameras[3]" is not markup.
    out = out or Console(highlight=False, soft_wrap=True)
    err = err or Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        registry = _load_with_spinner(path, err)
    except RegistryError as exc:
        for problem in exc.problems:
            err.print(str(problem), markup=False, soft_wrap=True, style="red")
        count = len(exc.problems)
        err.print(
            f"{path}: {count} problem{'s' if count != 1 else ''}", markup=False, soft_wrap=True
        )
        return EXIT_INVALID
    except OSError as exc:
        err.print(
            f"{path}: cannot read: {exc.strerror or exc}", markup=False, soft_wrap=True, style="red"
        )
        return EXIT_UNREADABLE
    out.print(
        f"OK: {len(registry.departments)} departments, {len(registry.groups)} groups, "
        f"{len(registry.cameras)} cameras, {len(registry.grants)} grants, "
        f"{len(registry.alarm_rules)} alarm rules",
        markup=False,
        soft_wrap=True,
    )
    return EXIT_OK


def _load_with_spinner(path: Path, console: Console) -> Registry:
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="check-registry") as pool:
        future = pool.submit(load_registry, path)
        try:
            return future.result(timeout=_SPINNER_AFTER_S)
        except FutureTimeout:
            pass
        if not console.is_terminal:
            return future.result()
        with console.status(f"Validating {path} ..."):
            return future.result()
