"""Reading what people hand in as files: text in whatever encoding a Chinese office saves it in, YAML and JSON
with bounds on what they may cost, firm profiles all-or-nothing with every problem named.

Bounds (docs/limits.md): a YAML or JSON document nests at most ``MAX_DEPTH`` levels and, with its aliases
expanded, holds at most ``MAX_NODES`` values (a few hundred bytes of "billion laughs" are refused at once,
not expanded); a text file is at most ``MAX_TEXT_BYTES`` unless the caller says otherwise.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from huiqi.firms.errors import FieldProblem, ProfileError, problems_from_validation
from huiqi.firms.profile import Firm

#: The deepest nesting of lists and mappings a YAML or JSON document may have.
MAX_DEPTH = 64
#: The most values (scalars, lists, mappings) a YAML document may hold once its aliases are expanded.
MAX_NODES = 50_000
#: The longest integer literal a YAML or JSON document may hold (the one bound on numbers, huiqi.money, is far
#: below it; longer ones are not even converted).
MAX_INT_DIGITS = 30
#: The largest text file read whole (a firm profile, a mapping file); callers may pass their own bound.
MAX_TEXT_BYTES = 16 * 1024 * 1024

#: Encodings a file may be in when it is not UTF-8: what Excel and Windows save on a Chinese system.
#: GB18030 is a superset of GBK and GB2312, so it reads them all.
_CHINESE = {"gb18030", "gbk", "gb2312", "hz", "cp936", "euc_cn"}
_ALSO = {"big5", "big5hkscs", "cp950"}
#: How much of a file its encoding is told from (a long file is then decoded strictly as it is read).
ENCODING_SAMPLE = 1 << 20
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_NOT_TEXT = (
    (b"PK\x03\x04", "a zip archive (an .xlsx workbook is one)", "save it in the format its name says"),
    (b"\xd0\xcf\x11\xe0", "an old Office file (.xls/.doc)", "save it as .xlsx or as UTF-8 text"),
    (b"%PDF", "a PDF document", "export the data as UTF-8 text or .xlsx"),
)


class TextFileError(ValueError):
    """A file that cannot be read as text: its name and why, in one line."""

    def __init__(self, source: str, message: str) -> None:
        self.source, self.message = source, message
        super().__init__(f"{source}: {message}")


def decode_any_encoding(data: bytes, *, source: str) -> tuple[str, str]:
    """The text of ``data`` and the encoding it was in: a BOM's, else UTF-8, else GB18030, Big5 or UTF-16
    as charset-normalizer finds it; anything else (binary, an unknown encoding) is refused by name."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _decode(data, encoding, source), encoding
    for magic, what, hint in _NOT_TEXT:
        if data.startswith(magic):
            raise TextFileError(source, f"this is {what}, not a text file: {hint}")
    found = detect_encoding(data)
    if found is not None:
        return _decode(data, found, source), found
    from charset_normalizer import from_bytes

    best = from_bytes(data[:ENCODING_SAMPLE]).best()
    guess = best.encoding if best is not None else None
    if guess is None:
        raise TextFileError(source, "this is not a text file (no text encoding fits its bytes)")
    if guess not in _ALSO:
        raise TextFileError(
            source,
            f"not UTF-8, and its bytes look like {guess}, which huiqi does not read: save it as UTF-8 "
            "(or GB18030)",
        )
    return _decode(data, guess, source), guess


def _decodes(data: bytes, encoding: str, *, complete: bool) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)("strict").decode(data, final=complete)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(data: bytes, *, complete: bool = True) -> str | None:
    """The encoding of text bytes (``complete``: all of them, else the start of a file), or None when it
    cannot be told with confidence: a BOM's, UTF-8, UTF-16/32 without a BOM, or GB18030 whenever
    charset-normalizer counts a Chinese national encoding among its candidates (short GBK text is often
    also valid Big5, and Big5's reading of it is wrong for a mainland file)."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    sample = data[:4096]
    if len(sample) >= 4 and sample.count(0) * 3 >= len(sample):  # text has no NULs: UTF-16 without a BOM
        odd_nuls = sample[1::2].count(0)
        even_nuls = sample[0::2].count(0)
        return "utf-16-le" if odd_nuls > even_nuls else "utf-16-be"
    if _decodes(data, "utf-8", complete=complete):
        return "utf-8"
    from charset_normalizer import from_bytes

    candidates = [m.encoding for m in from_bytes(data[:ENCODING_SAMPLE])]
    if any(c in _CHINESE for c in candidates) and _decodes(data, "gb18030", complete=complete):
        return "gb18030"
    return next((c for c in candidates if c.startswith(("utf_16", "utf_32"))), None)


def _decode(data: bytes, encoding: str, source: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise TextFileError(
            source, f"not valid {encoding} text at byte {exc.start}: save it as UTF-8 (or GB18030)"
        ) from None


def read_text_any_encoding(path: str | Path, *, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """A text file a person saved (UTF-8 with or without a BOM, GBK/GB18030, UTF-16, Big5), at most
    ``max_bytes``; unreadable, too large or not text: ``TextFileError`` naming the file."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise TextFileError(str(path), f"cannot read the file: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise TextFileError(str(path), f"the file is larger than {max_bytes:,} bytes")
    return decode_any_encoding(data, source=str(path))[0]


class YamlLimitError(yaml.MarkedYAMLError):
    """A YAML document beyond the bounds (too deep, too many values once aliases expand)."""


class BoundedLoader(yaml.SafeLoader):
    """A SafeLoader that refuses, while composing, documents nested deeper than ``MAX_DEPTH`` or holding more
    than ``MAX_NODES`` values with aliases expanded (each node's expanded size is counted once, so the count
    costs what the text costs)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._count = 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
        if self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            if id(node) not in self._sizes:
                raise YamlLimitError(None, None, "an alias refers to the value it is inside of", mark)
            return node
        self._depth += 1
        self._count += 1
        if self._count > MAX_NODES:
            raise YamlLimitError(None, None, f"more than {MAX_NODES:,} values", mark)
        if self._depth > MAX_DEPTH:
            raise YamlLimitError(None, None, f"nested more than {MAX_DEPTH} levels deep", mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        size = 1
        if node is None:
            return node
        if isinstance(node, yaml.MappingNode):
            size += sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            size += sum(self._sizes[id(item)] for item in node.value)
        if size > MAX_NODES:
            raise YamlLimitError(
                None,
                None,
                f"more than {MAX_NODES:,} values once its aliases (*name) are expanded",
                mark,
            )
        self._sizes[id(node)] = size
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """A value, or a ``ConstructorError`` at its place for a scalar PyYAML matched but cannot build
        (``2023-02-30``, an integer of 5,000 digits)."""
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:int":
            digits = len(str(node.value).replace("_", "").lstrip("+-"))
            if digits > MAX_INT_DIGITS:
                raise yaml.constructor.ConstructorError(
                    None, None, f"an integer of {digits} digits (at most {MAX_INT_DIGITS})", node.start_mark
                )
        try:
            return super().construct_object(node, deep)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {str(node.value)[:40]!r}: {exc}", node.start_mark
            ) from None


class _NoFloatLoader(BoundedLoader):
    """YAML that keeps 1.5 as the string '1.5' so that the Decimal parser, not float(), reads it."""


def _float_as_str(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


_NoFloatLoader.add_constructor("tag:yaml.org,2002:float", _float_as_str)


def load_yaml_text(text: str) -> Any:
    """YAML as data, within the bounds; floats stay text."""
    return yaml.load(text, Loader=_NoFloatLoader)  # nosec B506  # _NoFloatLoader is a SafeLoader subclass


def json_depth_problem(data: Any) -> str | None:
    """What is wrong with parsed JSON beyond its syntax: nesting deeper than ``MAX_DEPTH``, or text that is
    not Unicode (a lone surrogate such as ``"\\ud800"``); ``None`` if nothing."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            if depth > MAX_DEPTH:
                return f"nested more than {MAX_DEPTH} levels deep"
            for key, item in value.items():
                stack.append((key, depth))
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            if depth > MAX_DEPTH:
                return f"nested more than {MAX_DEPTH} levels deep"
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                code = ord(value[exc.start])
                return f"text {value[:20]!r}... holds a lone surrogate (\\u{code:04x}), not Unicode"
    return None


def load_json_text(text: str | bytes, *, max_int_digits: int = MAX_INT_DIGITS) -> Any:
    """JSON as data: numbers with a fraction stay text (never floats), integers of at most ``max_int_digits``
    digits, within the depth bound; ``ValueError`` with line and column (or the bound) otherwise."""

    def bounded_int(literal: str) -> int:
        digits = len(literal.lstrip("-"))
        if digits > max_int_digits:
            raise ValueError(f"invalid JSON: an integer of {digits} digits (at most {max_int_digits})")
        return int(literal)

    try:
        data = json.loads(text, parse_float=str, parse_int=bounded_int, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise ValueError(f"invalid JSON: nested more than {MAX_DEPTH} levels deep") from None
    problem = json_depth_problem(data)
    if problem:
        raise ValueError(f"invalid JSON: {problem}")
    return data


def _no_constant(text: str) -> Any:
    raise ValueError(f"invalid JSON: {text} is not a number JSON allows")


def parse_text(text: str, *, source: str) -> Any:
    """Parse JSON (numbers with a fraction become strings, never floats) or YAML by the file's look."""
    stripped = text.lstrip()
    if source.endswith(".json") or stripped.startswith("{"):
        try:
            return load_json_text(text)
        except ValueError as exc:
            raise ProfileError(source, [FieldProblem("", str(exc))]) from None
    try:
        return load_yaml_text(text)
    except yaml.YAMLError as exc:
        raise ProfileError(source, [FieldProblem("", yaml_message(exc))]) from None


def yaml_message(exc: yaml.YAMLError) -> str:
    """PyYAML's error in one line: ``line 3 column 5: invalid YAML: <what>``."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        if mark is not None:
            return f"line {mark.line + 1} column {mark.column + 1}: invalid YAML: {what}"
        return f"invalid YAML: {what}"
    return f"invalid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"


def firm_from_data(data: Any, *, source: str = "<firm>") -> Firm:
    if not isinstance(data, dict):
        raise ProfileError(source, [FieldProblem("", "a firm profile must be a mapping of fields")])
    problem = json_depth_problem(data)
    if problem:
        raise ProfileError(source, [FieldProblem("", problem)])
    try:
        return Firm.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(source, problems_from_validation(exc)) from None


def load_firm(path: str | Path) -> Firm:
    """A firm profile from a JSON or YAML file in any encoding a person saves in; every problem named."""
    path = Path(path)
    try:
        text = read_text_any_encoding(path)
    except TextFileError as exc:
        raise ProfileError(str(path), [FieldProblem("", exc.message)]) from None
    return firm_from_data(parse_text(text, source=str(path)), source=str(path))


def firm_to_json(firm: Firm) -> dict[str, Any]:
    return firm.model_dump(mode="json", exclude_defaults=False)
