"""YAML to plain Python data plus a map from key path to line, for located error messages.

PyYAML's `safe_load` forgets where values came from and silently keeps the last of two
duplicate keys. Composing with the C loader and building the data here keeps the speed,
records the line of every key and sequence item, and reports duplicate keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sharpeye.registry.verify import Loc

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


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


class _Builder:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.constructor = SafeConstructor()
        # Alias cycles (&a [*a]) would recurse forever; these are the nodes being built.
        self.active: set[int] = set()

    def scalar(self, node: ScalarNode, loc: Loc) -> Any:
        if node.tag == _STR:
            return node.value
        ctor = SafeConstructor.yaml_constructors.get(node.tag)
        if ctor is None:
            line = node.start_mark.line + 1
            self.doc.problems.append(SourceProblem(line, loc, f"unsupported tag {node.tag}"))
            return node.value
        try:
            return ctor(self.constructor, node)
        except (ConstructorError, ValueError) as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            self.doc.problems.append(SourceProblem(node.start_mark.line + 1, loc, problem))
            return node.value

    def build(self, node: Node, loc: Loc) -> Any:
        if isinstance(node, ScalarNode):
            return self.scalar(node, loc)
        if id(node) in self.active:
            line = node.start_mark.line + 1
            self.doc.problems.append(SourceProblem(line, loc, "recursive alias"))
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return self.sequence(node, loc)
            if isinstance(node, MappingNode):
                return self.mapping(node, loc)
            return None
        finally:
            self.active.discard(id(node))

    def sequence(self, node: SequenceNode, loc: Loc) -> list[Any]:
        lines = self.doc.lines
        out = []
        for index, child in enumerate(node.value):
            child_loc = (*loc, index)
            lines[child_loc] = child.start_mark.line + 1
            out.append(self.build(child, child_loc))
        return out

    def mapping(self, node: MappingNode, loc: Loc) -> dict[Any, Any]:
        lines = self.doc.lines
        out: dict[Any, Any] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merges.append(value_node)
                continue
            line = key_node.start_mark.line + 1
            key = self.build(key_node, loc)
            try:
                hash(key)
            except TypeError:
                self.doc.problems.append(SourceProblem(line, loc, "keys must be plain values"))
                continue
            child_loc = (*loc, key)
            if key in out:
                first = lines.get(child_loc, line)
                message = f"duplicate key {key!r} (first at line {first})"
                self.doc.problems.append(SourceProblem(line, child_loc, message))
                continue
            lines[child_loc] = line
            out[key] = self.build(value_node, child_loc)
        # `<<: *defaults` fills in keys the mapping does not set itself (YAML merge keys).
        for merge in merges:
            sources = merge.value if isinstance(merge, SequenceNode) else [merge]
            for source in sources:
                # Lines go to a side map first: keys the mapping sets itself keep their own.
                merged_lines: dict[Loc, int] = {}
                self.doc.lines = merged_lines
                try:
                    merged = self.build(source, loc)
                finally:
                    self.doc.lines = lines
                if not isinstance(merged, dict):
                    line = source.start_mark.line + 1
                    self.doc.problems.append(SourceProblem(line, loc, "<< must merge a mapping"))
                    continue
                taken = {key for key in merged if key not in out}
                for key in taken:
                    out[key] = merged[key]
                depth = len(loc)
                for path, line in merged_lines.items():
                    if len(path) > depth and path[depth] in taken:
                        lines[path] = line
        return out


def compose_document(text: str) -> Document:
    """Build data and line map from YAML text; raises yaml.YAMLError on a syntax error."""
    root = yaml.compose(text, Loader=yaml.CSafeLoader)
    doc = Document(data=None)
    if root is None:
        return doc
    doc.lines[()] = root.start_mark.line + 1
    doc.data = _Builder(doc).build(root, ())
    return doc
