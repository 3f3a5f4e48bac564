"""YAML to plain Python data plus a map from key path to line, for located error messages.

PyYAML's `safe_load` forgets where values came from and silently keeps the last of two
duplicate keys. `yaml.compose` keeps the lines but is slow: even with the C parser, node
building and tag resolution run in Python per node (about 6 s for 10,000 cameras on a small
machine). So this module reads the C parser's event stream and builds dicts and lists
directly, resolving plain scalars the way PyYAML's SafeLoader does (YAML 1.1: `on`, `no`,
timestamps) and supporting anchors, aliases and `<<` merge keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import ScalarNode

from sharpeye.registry.verify import Loc

_STR = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_RESOLVERS = yaml.SafeLoader.yaml_implicit_resolvers
_CONSTRUCTORS = SafeConstructor.yaml_constructors
# Plain scalars are cached raw -> value: keys and values like `0.1` or `true` repeat
# thousands of times, and every value a plain scalar builds (str, int, float, bool, None,
# date) is immutable, so sharing one is safe.
_MAX_CACHED = 200_000


class _Merge:
    """The `<<` key: a marker that cannot collide with any real key."""

    def __repr__(self) -> str:
        return "'<<'"


MERGE = _Merge()
# A mapping between a value and its next key; None cannot mark this, it is a valid key.
_NO_KEY: Any = object()


@dataclass
class SourceProblem:
    line: int
    loc: Loc
    message: str


@dataclass
class Document:
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)
    problems: list[SourceProblem] = field(default_factory=list)

    def line_of(self, loc: Loc) -> int:
        """Line of the deepest part of `loc` that exists in the file (a missing key has none)."""
        for end in range(len(loc), 0, -1):
            line = self.lines.get(loc[:end])
            if line is not None:
                return line
        return self.lines.get((), 1)


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1 if event.start_mark is not None else 0


class _Frame:
    """A mapping or sequence being built."""

    __slots__ = (
        "anchor",
        "container",
        "entries_start",
        "is_map",
        "key",
        "key_lines",
        "loc",
        "merges",
        "skip",
        "value_start",
    )

    def __init__(self, container: Any, loc: Loc, anchor: str | None, start: int) -> None:
        self.container = container
        self.is_map = isinstance(container, dict)
        self.loc = loc
        self.anchor = anchor
        self.entries_start = start
        self.key: Any = _NO_KEY
        self.key_lines: dict[Any, int] = {}
        self.merges: list[tuple[Any, list[tuple[Loc, int]]]] = []
        self.skip = False  # the value being read belongs to a duplicate key: drop it
        self.value_start = 0


class _Builder:
    def __init__(self) -> None:
        self.doc = Document(data=None)
        # (key path, line) in file order; later entries win when made into the line map.
        self.entries: list[tuple[Loc, int]] = []
        self.anchors: dict[str, tuple[Any, Loc, list[tuple[Loc, int]]]] = {}
        self.stack: list[_Frame] = []
        self.constructor = SafeConstructor()
        self.known_plain: dict[str, Any] = {}
        self.done = False

    def problem(self, line: int, loc: Loc, message: str) -> None:
        self.doc.problems.append(SourceProblem(line, loc, message))

    # -- positions ------------------------------------------------------------------------

    def _child_loc(self, line: int) -> Loc:
        """Key path of the node starting now; records its line if it is a sequence item."""
        if not self.stack:
            return ()
        parent = self.stack[-1]
        if not parent.is_map:
            loc = (*parent.loc, len(parent.container))
            self.entries.append((loc, line))
            return loc
        if parent.key is _NO_KEY:
            # A key: whatever a complex key records is dropped again in _take_key.
            parent.value_start = len(self.entries)
            return parent.loc  # a key (a complex key has no path of its own)
        return (*parent.loc, parent.key)

    def _attach(self, value: Any, line: int) -> None:
        if not self.stack:
            self.doc.data = value
            self.done = True
            return
        parent = self.stack[-1]
        if not parent.is_map:
            parent.container.append(value)
        elif parent.key is _NO_KEY:
            self._take_key(parent, value, line)
        else:
            if parent.key is MERGE:
                parent.merges.append((value, self.entries[parent.value_start :]))
                del self.entries[parent.value_start :]
            elif parent.skip:
                del self.entries[parent.value_start :]
            else:
                parent.container[parent.key] = value
            parent.key = _NO_KEY
            parent.skip = False

    def _take_key(self, parent: _Frame, key: Any, line: int) -> None:
        del self.entries[parent.value_start :]
        parent.skip = False
        try:
            hash(key)
        except TypeError:
            self.problem(line, parent.loc, "keys must be plain values")
            key = object()  # stands in for the key while its value is read and dropped
            parent.skip = True
        if parent.skip:
            pass
        elif key in parent.key_lines:
            first = parent.key_lines[key]
            self.problem(line, (*parent.loc, key), f"duplicate key {key!r} (first at line {first})")
            parent.skip = True
        elif key is not MERGE:
            parent.key_lines[key] = line
            self.entries.append(((*parent.loc, key), line))
        parent.key = key
        parent.value_start = len(self.entries)

    # -- events ---------------------------------------------------------------------------

    def scalar(self, event: yaml.ScalarEvent) -> None:
        line = _line(event)
        loc = self._child_loc(line)
        tag = event.tag
        if tag is None:
            tag = self._resolve(event)
        elif tag == "!":
            tag = _STR
        value: Any = event.value
        ok = True
        if tag == _MERGE_TAG:
            value = MERGE
        elif tag != _STR:
            value, ok = self._construct(tag, event.value, event)
            if not ok:
                self.problem(line, loc, value)
                value = event.value
        if ok and event.tag is None and event.implicit[0] and len(self.known_plain) < _MAX_CACHED:
            self.known_plain[event.value] = value
        if event.anchor is not None:
            self.anchors[event.anchor] = (value, loc, [])
        self._attach(value, line)

    def _resolve(self, event: yaml.ScalarEvent) -> str:
        # SafeLoader's implicit resolution for plain scalars; quoted ones are strings.
        value = event.value
        if not event.implicit[0]:
            return _STR
        for tag, regexp in _RESOLVERS.get(value[0] if value else "", ()):
            if regexp.match(value):
                return str(tag)
        return _STR

    def _construct(self, tag: str, raw: str, event: yaml.ScalarEvent) -> tuple[Any, bool]:
        """(value, True), or (why not, False) for an unknown tag or a malformed value."""
        ctor = _CONSTRUCTORS.get(tag)
        if ctor is None:
            return f"unsupported YAML tag {tag}", False
        node = ScalarNode(tag, raw, None, None, event.style)
        try:
            return ctor(self.constructor, node), True
        except (ConstructorError, ValueError) as exc:
            return getattr(exc, "problem", None) or f"invalid {tag} value", False

    def start(self, container: Any, event: yaml.CollectionStartEvent) -> None:
        line = _line(event)
        loc = self._child_loc(line)
        if not self.stack:
            self.entries.append(((), line))
        self.stack.append(_Frame(container, loc, event.anchor, len(self.entries)))

    def end(self, event: yaml.Event) -> None:
        frame = self.stack.pop()
        if frame.is_map and frame.merges:
            self._apply_merges(frame, _line(event))
        if frame.anchor is not None:
            subtree = self.entries[frame.entries_start :]
            self.anchors[frame.anchor] = (frame.container, frame.loc, subtree)
        self._attach(frame.container, _line(event))

    def _apply_merges(self, frame: _Frame, line: int) -> None:
        # `<<: *defaults` fills in keys the mapping does not set itself; with a list of
        # mappings, earlier ones win (YAML merge key spec).
        out = frame.container
        depth = len(frame.loc) + 1  # entries of a merge value sit under (*loc, "<<")
        for value, entries in frame.merges:
            sources = value if isinstance(value, list) else [value]
            for index, source in enumerate(sources):
                if not isinstance(source, dict):
                    self.problem(line, frame.loc, "<< must merge a mapping or a list of them")
                    continue
                taken = {k for k in source if k not in out}
                for k in taken:
                    out[k] = source[k]
                skip = depth + (1 if isinstance(value, list) else 0)
                for path, entry_line in entries:
                    if isinstance(value, list) and (len(path) < depth + 1 or path[depth] != index):
                        continue
                    if len(path) > skip and path[skip] in taken:
                        self.entries.append(((*frame.loc, *path[skip:]), entry_line))

    def alias(self, event: yaml.AliasEvent) -> None:
        line = _line(event)
        loc = self._child_loc(line)
        anchor = self.anchors.get(event.anchor or "")
        if anchor is None:
            self.problem(line, loc, f"undefined (or recursive) alias *{event.anchor}")
            self._attach(None, line)
            return
        value, anchor_loc, subtree = anchor
        cut = len(anchor_loc)
        self.entries.extend(((*loc, *path[cut:]), ln) for path, ln in subtree)
        self._attach(value, line)


def compose_document(text: str) -> Document:
    """Build data and line map from YAML text; raises yaml.YAMLError on a syntax error."""
    builder = _Builder()
    loader = yaml.CSafeLoader(text)
    try:
        _run(builder, loader.get_event)
    finally:
        loader.dispose()
    builder.doc.lines = dict(builder.entries)
    return builder.doc


def _run(builder: _Builder, get_event: Callable[[], Any]) -> None:
    # The hot loop: a 10,000-camera file is a million events, so the common case (a plain
    # scalar seen before, as a new key or as a value, or as a list item) is handled inline;
    # everything else goes through the builder's methods.
    container: Any
    stack = builder.stack
    entries = builder.entries
    known = builder.known_plain
    scalar_event, no_key, merge = yaml.ScalarEvent, _NO_KEY, MERGE
    map_start, map_end = yaml.MappingStartEvent, yaml.MappingEndEvent
    seq_start, seq_end = yaml.SequenceStartEvent, yaml.SequenceEndEvent
    while True:
        event = get_event()
        kind = type(event)
        if kind is scalar_event:
            if stack and event.tag is None and event.anchor is None:
                value = known.get(event.value, no_key) if event.implicit[0] else event.value
                if value is not no_key and value is not merge:
                    parent = stack[-1]
                    line = event.start_mark.line + 1
                    if not parent.is_map:
                        container = parent.container
                        entries.append(((*parent.loc, len(container)), line))
                        container.append(value)
                        continue
                    key = parent.key
                    if key is no_key:
                        if value not in parent.key_lines:
                            parent.key_lines[value] = line
                            entries.append(((*parent.loc, value), line))
                            parent.key = value
                            parent.value_start = len(entries)
                            continue
                    elif key is not merge and not parent.skip:
                        parent.container[key] = value
                        parent.key = no_key
                        continue
            builder.scalar(event)
        elif kind is map_start or kind is seq_start:
            container = {} if kind is map_start else []
            if stack and event.anchor is None:
                parent = stack[-1]
                key = parent.key
                line = event.start_mark.line + 1
                if not parent.is_map:
                    loc = (*parent.loc, len(parent.container))
                    entries.append((loc, line))
                    stack.append(_Frame(container, loc, None, len(entries)))
                    continue
                if key is not no_key:
                    stack.append(_Frame(container, (*parent.loc, key), None, len(entries)))
                    continue
            builder.start(container, event)
        elif kind is map_end or kind is seq_end:
            frame = stack[-1]
            if frame.anchor is None and not frame.merges and len(stack) > 1:
                stack.pop()
                parent = stack[-1]
                if not parent.is_map:
                    parent.container.append(frame.container)
                    continue
                key = parent.key
                if key is not no_key and key is not merge and not parent.skip:
                    parent.container[key] = frame.container
                    parent.key = no_key
                    continue
                stack.append(frame)
            builder.end(event)
        elif kind is yaml.AliasEvent:
            builder.alias(event)
        elif kind is yaml.DocumentStartEvent and builder.done:
            line = event.start_mark.line + 1
            builder.problem(line, (), "expected one YAML document, found another")
            return
        elif event is None or kind is yaml.StreamEndEvent:
            return
