"""YAML read with positions: the data plus, for every path in it, the line and column it came from.

Floats never appear: a YAML number with a fraction becomes a Decimal from its text. Duplicate keys
are errors (PyYAML would silently keep the last). The document is bounded as every YAML huiqi reads is
(``huiqi.firms.io.BoundedLoader``: depth, values with aliases expanded) and in size (``MAX_CHARS``); a date
that does not exist (2023-02-30) is refused at its line and column.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import yaml

from huiqi.firms.io import MAX_INT_DIGITS, BoundedLoader, YamlLimitError

Path = tuple[str | int, ...]

#: The longest YAML text read (programme, call, reform, test files): 28 times the largest bundled programme,
#: and read (PyYAML reads 0.1 to 1 MB a second) in a few seconds at worst.
MAX_CHARS = 256 * 1024


@dataclass(frozen=True, slots=True)
class Pos:
    line: int  # 1-based
    column: int  # 1-based
    style: str | None = None  # the scalar's style: None (plain), "'", '"', "|", ">"


class YamlError(ValueError):
    def __init__(self, message: str, line: int, column: int) -> None:
        self.message, self.line, self.column = message, line, column
        super().__init__(f"{line}:{column}: {message}")


class _Loader(BoundedLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false (``on``, ``yes``, ``no`` stay text)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _pos(node: yaml.Node) -> Pos:
    style = getattr(node, "style", None)
    return Pos(node.start_mark.line + 1, node.start_mark.column + 1, style)


def _scalar(loader: _Loader, node: yaml.ScalarNode) -> Any:
    tag = node.tag
    if tag == "tag:yaml.org,2002:float":
        text = node.value.replace("_", "")
        try:
            value = Decimal(text)
        except ArithmeticError:
            raise YamlError(f"{node.value!r} is not a decimal number", *_lc(node)) from None
        if not value.is_finite():
            raise YamlError(f"{node.value!r} is not a finite number", *_lc(node))
        return value
    if tag == "tag:yaml.org,2002:timestamp":
        try:
            stamp = loader.construct_yaml_timestamp(node)
        except ValueError as exc:
            raise YamlError(f"{node.value!r} is not a date that exists ({exc})", *_lc(node)) from None
        if isinstance(stamp, dt.datetime):
            raise YamlError("expected a date (YYYY-MM-DD), got a date and time", *_lc(node))
        return stamp
    if tag == "tag:yaml.org,2002:int" and len(node.value.replace("_", "").lstrip("+-")) > MAX_INT_DIGITS:
        raise YamlError(f"an integer of {len(node.value)} digits (at most {MAX_INT_DIGITS})", *_lc(node))
    try:
        value = loader.construct_object(node)
    except ValueError as exc:  # a scalar PyYAML matched but cannot build
        raise YamlError(f"cannot read {node.value[:40]!r}: {exc}", *_lc(node)) from None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise YamlError(
                f"text holding a lone surrogate (\\u{ord(value[exc.start]):04x}) is not Unicode", *_lc(node)
            ) from None
    return value


def _lc(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(loader: _Loader, node: yaml.Node, path: Path, positions: dict[Path, Pos]) -> Any:
    positions[path] = _pos(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(loader, key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str | int) or isinstance(key, bool):
                raise YamlError("mapping keys must be plain names", *_lc(key_node))
            if key in out:
                raise YamlError(f"key {key!r} appears twice in this mapping", *_lc(key_node))
            out[key] = _build(loader, value_node, (*path, key), positions)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, i), positions) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)  # nosec B101  # narrows the type for mypy
    return _scalar(loader, node)


def load_with_positions(text: str) -> tuple[Any, dict[Path, Pos]]:
    """Parse one YAML document; raise YamlError (with line and column) on malformed input."""
    if len(text) > MAX_CHARS:
        raise YamlError(f"the file is longer than {MAX_CHARS:,} characters", 1, 1)
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, found before parsing
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise YamlError(f"character {exc.character!r} is not allowed in YAML", line, column) from None
    try:
        try:
            root = loader.get_single_node()
        except YamlLimitError as exc:
            mark = exc.problem_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            raise YamlError(f"too large: {exc.problem}", line, col) from None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            raise YamlError(f"malformed YAML: {exc.problem or exc.context}", line, col) from None
        except yaml.YAMLError as exc:
            raise YamlError(f"malformed YAML: {exc}", 1, 1) from None
        if root is None:
            raise YamlError("the file is empty", 1, 1)
        positions: dict[Path, Pos] = {}
        try:
            data = _build(loader, root, (), positions)
        except yaml.constructor.ConstructorError as exc:
            mark = exc.problem_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            raise YamlError(f"cannot read value: {exc.problem}", line, col) from None
        return data, positions
    finally:
        loader.dispose()


def nearest(positions: dict[Path, Pos], path: Path) -> Pos:
    """The position of a path, or of its closest ancestor that has one."""
    while path not in positions and path:
        path = path[:-1]
    return positions.get(path, Pos(1, 1))
