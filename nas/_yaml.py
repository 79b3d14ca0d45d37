"""Reading and writing genome YAML within bounds: every mistake in the text becomes one line, and no text
(deep nesting, recursive or exponential aliases, odd scalars) can make the reader recurse, hang or crash.

Only PyYAML's safe constructors are used, so no tag can run code.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from ._limits import MAX_DEPTH, MAX_NODES
from .errors import one_line, quote

_MERGE = "tag:yaml.org,2002:merge"
_SHORT_TAGS = {f"tag:yaml.org,2002:{t}": f"!!{t}" for t in ("int", "float", "bool", "null", "str", "timestamp",
                                                              "binary", "map", "seq", "set", "omap", "pairs")}


class YAMLInputError(ValueError):
    """Text that is not a YAML document this project reads; the message is one line."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, bounded: nesting depth, alias expansion, no recursive alias, no duplicate key."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._open: list[str] = []  # anchors of the collections being composed, innermost last

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open:  # the alias stands for a node that contains it: an infinite document
                raise ComposerError(f"while composing the node anchored &{event.anchor}", None,
                                    f"found alias *{event.anchor}, which refers to a node that contains it",
                                    event.start_mark)
            return super().compose_node(parent, index)
        if self._depth >= MAX_DEPTH:  # checked before recursing: PyYAML's composer runs out of stack at ~450
            raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        anchor = getattr(event, "anchor", None)
        self._depth += 1
        if anchor is not None:
            self._open.append(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if anchor is not None:
                self._open.pop()

    def compose_mapping_node(self, anchor: str | None) -> yaml.MappingNode:
        node = super().compose_mapping_node(anchor)
        seen: set[tuple[str, str]] = set()
        for key, _ in node.value:  # the keys as written (before merge keys are flattened in)
            if isinstance(key, yaml.ScalarNode) and key.tag != _MERGE:
                if (key.tag, key.value) in seen:
                    raise ComposerError("while composing a mapping", node.start_mark,
                                        f"found duplicate key {quote(key.value)}", key.start_mark)
                seen.add((key.tag, key.value))
        return node

    def compose_document(self) -> yaml.Node | None:
        node = super().compose_document()
        if node is not None:
            _expanded(node, {})
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, IndexError, KeyError, AttributeError, TypeError, OverflowError):
            # PyYAML's scalar constructors raise plain exceptions on values like `!!int ""` or 5,000 digits.
            tag = _SHORT_TAGS.get(node.tag, node.tag)
            what = f" {quote(node.value)}" if isinstance(node, yaml.ScalarNode) else ""
            raise ConstructorError(None, None, f"cannot read{what} as {tag}", node.start_mark) from None


# Integers are read in decimal only. YAML 1.1 also reads `0x10` as 16, `017` as 15 (octal) and `1:00` as 60
# (base 60), which in a genome are traps rather than conveniences: those stay strings, and the field that expected
# an integer says so.
_INT = "tag:yaml.org,2002:int"
_Loader.yaml_implicit_resolvers = {first: [(tag, rx) for tag, rx in resolvers if tag != _INT]
                                   for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(_INT, re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789"))


def _expanded(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes under ``node`` with every alias expanded, counted in time linear in the nodes as written; over
    ``MAX_NODES`` raises, at the innermost node that runs over."""
    n = memo.get(id(node))
    if n is None:
        if isinstance(node, yaml.SequenceNode):
            n = 1 + sum(_expanded(x, memo) for x in node.value)
        elif isinstance(node, yaml.MappingNode):
            n = 1 + sum(_expanded(k, memo) + _expanded(v, memo) for k, v in node.value)
        else:
            n = 1
        if n > MAX_NODES:
            raise ComposerError(None, None, f"aliases expand this to more than {MAX_NODES:,} nodes", node.start_mark)
        memo[id(node)] = n
    return n


def _short(text: str, limit: int = 200) -> str:
    text = one_line(text)
    return text if len(text) <= limit else f"{text[:limit]}..."


def _at(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _message(e: yaml.YAMLError) -> str:
    """PyYAML's error as one line: where and what, with its context (``first occurrence``) when it has one."""
    if isinstance(e, yaml.MarkedYAMLError):
        where = _at(e.problem_mark)
        text = f"{where}: {e.problem}" if where else str(e.problem or "")
        if e.context:
            ctx = f"{e.context} at {_at(e.context_mark)}" if e.context_mark is not None else e.context
            text = f"{text} ({ctx})" if text else ctx
        return text
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def load_yaml(text: str) -> Any:
    """The data of one YAML document; any mistake raises YAMLInputError with a one-line message."""
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # the reader refuses control characters here already
        return loader.get_single_data()
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        column = e.position - (text.rfind("\n", 0, e.position) + 1) + 1
        raise YAMLInputError(f"not valid YAML: line {line}, column {column}: unacceptable character "
                             f"#x{e.character:04x}: {e.reason}") from None
    except yaml.YAMLError as e:
        raise YAMLInputError(f"not valid YAML: {_short(_message(e))}") from None
    except (ValueError, IndexError, KeyError, AttributeError, TypeError, OverflowError, RecursionError) as e:
        # Raised outside the constructors (the scanner's chr() on "\U0011FFFF"): place it where reading stopped.
        where = f"{_at(loader.get_mark())}: " if loader is not None else ""
        raise YAMLInputError(f"not valid YAML: {where}{_short(str(e))}") from None
    finally:
        if loader is not None:
            loader.dispose()


class _Dumper(yaml.SafeDumper):
    """Block records on one line each; everything else in block style."""


def _represent_dict(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    flow = "type" in data or "op" in data or "kind" in data  # block records, defined blocks' nodes and params
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(not isinstance(x, (dict, list)) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(dict, _represent_dict)
_Dumper.add_representer(list, _represent_list)


def dump_yaml(data: Any) -> str:
    """Plain data as YAML text in the genome's layout (block records on one line)."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=120)
