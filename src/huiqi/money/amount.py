"""One place where numbers from outside become Decimals, and where yuan round to fen.

Floats are refused at the boundary: a float has already lost the fen before we see it.
Rounding is half-up (away from zero), the rule of Chinese public finance and the one
that DuckDB, PostgreSQL and Spark apply to ``round(decimal, 2)``.
"""

from __future__ import annotations

import decimal
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN = Decimal("0.01")

#: Context for exact arithmetic: wide enough that sums and products of register figures never round.
EXACT = decimal.Context(prec=60, rounding=ROUND_HALF_UP, traps=[InvalidOperation, decimal.Overflow])


class MoneyError(ValueError):
    """A value that cannot be an exact amount (a float, NaN, text that is not a number)."""


def parse_decimal(value: object, *, what: str = "value") -> Decimal:
    """Turn an int, a Decimal or a decimal string into a Decimal; refuse floats, bools, NaN and infinities."""
    if isinstance(value, bool):
        raise MoneyError(f"{what}: expected a decimal number, got a boolean")
    if isinstance(value, float):
        raise MoneyError(
            f"{what}: expected an exact decimal (write it as a string, e.g. \"{value!r}\"), got a float"
        )
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, str):
        text = value.strip().replace("_", "").replace(",", "")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise MoneyError(f"{what}: expected a decimal number, got {value!r}") from None
    else:
        raise MoneyError(f"{what}: expected a decimal number, got {type(value).__name__}")
    if not result.is_finite():
        raise MoneyError(f"{what}: expected a finite decimal number, got {value!r}")
    return result


def yuan(value: object, *, what: str = "amount") -> Decimal:
    """An amount in yuan, exact to the fen; more than two decimal places is an error, not a rounding."""
    amount = parse_decimal(value, what=what)
    if amount != amount.quantize(FEN, context=EXACT):
        raise MoneyError(f"{what}: {value!r} has more than two decimal places (yuan are exact to the fen)")
    return amount.quantize(FEN, context=EXACT)


def quantize_fen(amount: Decimal) -> Decimal:
    """Round a computed amount to the fen, half-up."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP, context=EXACT)


def yuan_to_fen(amount: Decimal) -> int:
    """Integer fen of an amount already exact to the fen."""
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise MoneyError(f"{amount} yuan is not a whole number of fen")
    return int(fen)


def fen_to_yuan(fen: int) -> Decimal:
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise MoneyError(f"fen must be an integer, got {type(fen).__name__}")
    return (Decimal(fen) / 100).quantize(FEN, context=EXACT)


def format_yuan(amount: Decimal, *, lang: str = "en", unit: bool = True) -> str:
    """Grouped, two places: ``5,000,000.00 yuan`` / ``5,000,000.00元``."""
    text = f"{quantize_fen(amount):,.2f}"
    if not unit:
        return text
    return f"{text}元" if lang == "zh" else f"{text} yuan"
