"""Load a registry file, collecting every problem with its file, line and key path."""

from __future__ import annotations

import difflib
import gc
import threading
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from sharpeye.registry.errors import Problem, RegistryError
from sharpeye.registry.partial import partial_cross_checks
from sharpeye.registry.schema import DEFER_CROSS_CHECKS, Registry
from sharpeye.registry.verify import Loc, format_loc, verify_all
from sharpeye.registry.yaml_source import Document, compose_document


def load_registry(path: Path) -> Registry:
    """Read and validate a registry file.

    Raises OSError if the file cannot be read and RegistryError listing every problem.
    """
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        problem = Problem(str(path), line, "", "not valid UTF-8 text")
        raise RegistryError([problem]) from None
    return parse_registry(text, str(path))


def parse_registry(text: str, source: str) -> Registry:
    """Validate registry YAML; `source` names the file in problems. Raises RegistryError."""
    with _gc_paused:
        return _parse(text, source)


class _GcPause:
    """Pause the cyclic GC while building: a big registry allocates millions of objects
    (none of them garbage yet) and the collections run over them doubled the load time.

    Counted, so overlapping loads in two threads do not re-enable it under each other.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._was_enabled = False

    def __enter__(self) -> None:
        with self._lock:
            self._depth += 1
            if self._depth == 1:
                self._was_enabled = gc.isenabled()
                gc.disable()

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._was_enabled:
                gc.enable()


_gc_paused = _GcPause()


def _parse(text: str, source: str) -> Registry:
    try:
        doc = compose_document(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        # Only the problem text: PyYAML's full message may quote the offending line verbatim,
        # and that line may hold a password.
        message = f"YAML syntax error: {exc.problem or exc.context or 'unreadable'}"
        if exc.problem and exc.context and exc.context_mark:
            message += f" ({exc.context} at line {exc.context_mark.line + 1})"
        raise RegistryError([Problem(source, line, "", message)]) from None
    except yaml.YAMLError:
        raise RegistryError([Problem(source, 1, "", "YAML syntax error")]) from None

    problems = [Problem(source, p.line, _label(doc.data, p.loc), p.message) for p in doc.problems]
    if not isinstance(doc.data, dict):
        message = "expected a mapping with version, district, departments, groups, cameras, grants"
        raise RegistryError([*problems, Problem(source, doc.line_of(()), "", message)])

    registry: Registry | None = None
    try:
        registry = Registry.model_validate(doc.data, context={DEFER_CROSS_CHECKS: True})
        found = verify_all(registry)
    except ValidationError as exc:
        # No input in the details: an invalid URL may hold a password.
        errors = exc.errors(include_url=False, include_input=False)
        problems += [_schema_problem(doc, source, err) for err in errors]
        found = partial_cross_checks(doc.data, errors)
    problems += [Problem(source, doc.line_of(loc), _label(doc.data, loc), m) for loc, m in found]

    if problems or registry is None:
        unique = list(dict.fromkeys(problems))
        raise RegistryError(sorted(unique, key=lambda p: p.line))
    return registry


def _label(data: Any, loc: Loc) -> str:
    """Key path, plus the id of the department, group, camera or grant it lies in."""
    text = format_loc(loc)
    if len(loc) < 2 or not isinstance(loc[1], int) or not isinstance(data, dict):
        return text
    items = data.get(loc[0])
    if not isinstance(items, list) or loc[1] >= len(items) or not isinstance(items[loc[1]], dict):
        return text
    key = "department" if loc[0] == "grants" else "id"
    value = items[loc[1]].get(key)
    return f"{text} ({key}={value})" if isinstance(value, str | int) else text


def _schema_problem(doc: Document, source: str, err: ErrorDetails) -> Problem:
    loc: Loc = tuple(err["loc"])
    ctx = err.get("ctx") or {}
    # Model-level checks name the key they are about (schema.registry_error).
    if isinstance(ctx.get("field"), str):
        loc = (*loc, ctx["field"])
    kind = err["type"]
    if kind == "extra_forbidden":
        message = _unknown_key_message(loc)
    elif kind == "missing":
        # An int position is a short tuple, e.g. a point [x] without its y.
        message = "value missing here" if isinstance(loc[-1], int) else "required key is missing"
    else:
        message = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return Problem(source, doc.line_of(loc), _label(doc.data, loc), message)


def _unknown_key_message(loc: Loc) -> str:
    key = str(loc[-1])
    model = _model_at(loc[:-1])
    if model is None:
        return f"unknown key {key!r}"
    allowed = list(model.model_fields)
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
    return f"unknown key {key!r}; {hint}"


def _model_at(loc: Loc) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Registry
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        model = _find_model(field.annotation) if field else None
    return model


def _find_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (list, Union, types.UnionType):
        for arg in get_args(annotation):
            found = _find_model(arg)
            if found is not None:
                return found
    return None
