"""YAML reading shared by the vocabulary, the rule base and region files (safe loaders only)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

# libyaml's C parser is ~9x faster than the pure-Python one; both construct with SafeConstructor.
_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SafeLoader(_Base):  # type: ignore[valid-type,misc]
    """Safe loader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is not None and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f'the key "{key}" appears twice in one mapping', key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def error_line(err: yaml.YAMLError) -> int | None:
    """Return the 1-based line a YAML error points at, if it says."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    return None if mark is None else int(mark.line) + 1


def describe_yaml_error(err: yaml.YAMLError) -> str:
    """Return a one-line description of a YAML syntax error without the file excerpt."""
    problem = getattr(err, "problem", None)
    context = getattr(err, "context", None)
    parts = [p for p in (context, problem) if p]
    return ", ".join(parts) if parts else str(err).splitlines()[0]


def load_all(text: str) -> Iterator[Any]:
    """Parse the YAML documents of `text` one at a time with the safe loader (lazily: the documents
    before a syntax error are still yielded)."""
    yield from yaml.load_all(text, Loader=SafeLoader)


def load_one(text: str) -> Any:
    """Parse a single YAML document with the safe loader."""
    return yaml.load(text, Loader=SafeLoader)


def key_lines(text: str) -> list[dict[str, int]]:
    """Map, per document, every dotted key path (and list item path) to its 1-based line.

    Used only when reporting an error, so the fast path never pays for it.
    """
    result: list[dict[str, int]] = []
    try:
        documents = list(yaml.compose_all(text, Loader=SafeLoader))
    except yaml.YAMLError:
        return result
    for node in documents:
        lines: dict[str, int] = {}
        if node is not None:
            _walk(node, "", lines)
        result.append(lines)
    return result


def _walk(node: yaml.Node, prefix: str, lines: dict[str, int]) -> None:
    lines.setdefault(prefix, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            path = f"{prefix}.{key}" if prefix else key
            lines.setdefault(path, key_node.start_mark.line + 1)
            _walk(value_node, path, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            path = f"{prefix}[{index}]"
            lines.setdefault(path, item.start_mark.line + 1)
            _walk(item, path, lines)
