"""Amounts and counts as registers write them: 1,200.50, ￥1,200.5, １，２００．５, 12.5万元, 3亿.

A column's unit is declared in the mapping (元, 万/万元, 亿/亿元); a cell may repeat it (``12.5万元`` in a
万元 column) but never name another one. Full-width digits and punctuation are read as their ASCII forms,
thousands separators must group by three, and a sign may stand before or after the ￥. Anything else that a
person could read two ways is refused with what was expected: ``1.234.567``, ``1,23``, ``1 200``,
``(1,200)``, ``5%``, ``一千``, and scientific notation (``1.2E+7`` is what Excel writes into a CSV when a
number is too long for its column: the digits are gone).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

#: Unit names a mapping may declare for a money column, and what one of them is in yuan.
UNITS = {
    "元": Decimal(1),
    "yuan": Decimal(1),
    "万元": Decimal(10_000),
    "万": Decimal(10_000),
    "亿元": Decimal(100_000_000),
    "亿": Decimal(100_000_000),
}
_SUFFIXES = sorted((u for u in UNITS if u != "yuan"), key=len, reverse=True)
_SIMPLE = re.compile(r"-?[0-9]{1,30}(?:\.[0-9]{1,30})?")  # the common case, read without normalising
_PLAIN = re.compile(r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?|\.[0-9]+")
#: The full-width forms of ASCII (U+FF01-FF5E, Excel's and Chinese input methods' １２，．－), the
#: full-width yuan sign and the ideographic space: the only characters read as others. NFKC would also
#: read a superscript or circled digit (1200² as 12002, ⑤ as 5) and \d any script's digits.
_FULL_WIDTH: dict[int, int | str] = {
    **{c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)},
    0xFFE5: "¥",
    0x3000: " ",
}


class NumberError(ValueError):
    """Text that is not a number in a form the register accepts; the message says what was expected."""


def unit_name(unit: Decimal) -> str:
    """How a unit is named in messages: 元, 万元, 亿元."""
    return next((k for k, v in UNITS.items() if v == unit and k != "yuan"), "元")


def normalise(text: str) -> str:
    """Full-width forms as ASCII (１２．５ -> 12.5, ，-> ,, ￥ -> ¥), edges stripped; nothing else changed,
    so that a superscript, circled or other script's digit is refused, never read as a digit."""
    return text.translate(_FULL_WIDTH).strip()


def _digits(text: str, expected: str) -> Decimal:
    if re.fullmatch(r"[+-]?[0-9.,]*[0-9][eE][+-]?[0-9]+", text):
        raise NumberError(
            f"{expected}, not scientific notation ({text}: Excel writes that when a number is too long "
            "for its column; widen the column or format it as a number, and save again)"
        )
    if not _PLAIN.fullmatch(text):
        raise NumberError(expected)
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise NumberError(expected) from None


def _signed(text: str) -> tuple[int, str]:
    sign = 1
    if text and text[0] in "+-":
        sign = -1 if text[0] == "-" else 1
        text = text[1:].lstrip()
    return sign, text


def parse_amount(text: str, unit: Decimal = Decimal(1)) -> Decimal:
    """The yuan of a money cell's text in a column of ``unit``; raises NumberError with what was expected."""
    if _SIMPLE.fullmatch(text):
        return Decimal(text) * unit
    name = unit_name(unit)
    expected = f"an amount in {name} (like 1,200.50{'' if name == '元' else name})"
    t = normalise(text)
    sign, t = _signed(t)
    if t.startswith("¥"):
        t = t[1:].lstrip()
        if sign == 1 and t and t[0] in "+-":
            sign, t = _signed(t)
    for suffix in _SUFFIXES:
        if t.endswith(suffix):
            if UNITS[suffix] != unit:
                raise NumberError(f"{expected}: {text.strip()!r} is in {suffix}, the column is in {name}")
            t = t[: -len(suffix)].rstrip()
            break
    return sign * _digits(t, expected) * unit


def parse_count(text: str) -> Decimal:
    """A whole number's text (full-width digits and thousands separators allowed) as a Decimal."""
    if _SIMPLE.fullmatch(text):
        return Decimal(text)
    sign, t = _signed(normalise(text))
    return sign * _digits(t, "a whole number")
