"""One place where numbers from outside become Decimals, and where yuan round to fen.

Floats are refused at the boundary: a float has already lost the fen before we see it.
Rounding is half-up (away from zero), the rule of Chinese public finance and the one
that DuckDB, PostgreSQL and Spark apply to ``round(decimal, 2)``.

Every number read from outside (register, firm profile, programme file, API, command line) has one
bound: at most ``MAX_MAGNITUDE`` (10^15: one quadrillion, 一千万亿) in size and ``MAX_PLACES`` decimal
places. An amount of 10^15 yuan is 10^17 fen, well inside a 64-bit integer, and a sum of many such
amounts still fits; no real figure comes near it (China's GDP is about 1.3 x 10^14 yuan). Beyond it a
value is refused with its name and the bound, never rounded, never an ``InvalidOperation`` further in.
"""

from __future__ import annotations

import decimal
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN = Decimal("0.01")

#: Context for exact arithmetic: wide enough that sums and products of register figures never round.
EXACT = decimal.Context(prec=60, rounding=ROUND_HALF_UP, traps=[InvalidOperation, decimal.Overflow])


#: The largest size of any number from outside (amounts in yuan, counts, areas, rates, parameters).
MAX_MAGNITUDE = 10**15
#: The most decimal places a number from outside may have.
MAX_PLACES = 20
#: Text longer than this is not read as a number (a bound on the work, far above any real figure).
MAX_NUMBER_TEXT = 64

_LIMIT = Decimal(MAX_MAGNITUDE)
_PLACES = Decimal(1).scaleb(-MAX_PLACES)
#: how the bound reads in a message
BOUND_TEXT = "1,000,000,000,000,000 (10^15)"


#: Why a value is not an exact amount (``MoneyError.why``): a page words each with the figures beside it.
REASONS = frozenset(
    {
        "not_finite",
        "beyond_bound",
        "too_many_places",
        "boolean",
        "float",
        "too_long",
        "not_a_number",
        "wrong_type",
        "not_fen",
        "cannot_round",
        "fraction_of_fen",
        "fen_not_int",
        "not_whole",
        "not_a_date",
        "unknown_move",
    }
)


class MoneyError(ValueError):
    """A value that cannot be an exact amount (a float, NaN, text that is not a number, beyond the bound).
    ``why`` (one of ``REASONS``) and its figures let a page word it in its own language."""

    def __init__(self, message: str, *, why: str = "", **figures: object) -> None:
        super().__init__(message)
        self.message, self.why, self.figures = message, why, figures


def _cut(value: object) -> str:
    """A value as a figure shows it (cut when long)."""
    text = str(value)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-8:]}"


def _short(value: object) -> str:
    """A value as a message quotes it: its repr, cut like a figure and its length said when long."""
    text = repr(value)
    return text if len(text) <= 40 else f"{_cut(text)} ({len(text)} characters)"


def check_bound(value: Decimal, *, what: str = "value", shown: object = None) -> Decimal:
    """Refuse a number beyond the one bound for numbers from outside (size and decimal places)."""
    shown = value if shown is None else shown
    if not value.is_finite():
        raise MoneyError(
            f"{what}: expected a finite decimal number, got {_short(shown)}",
            why="not_finite",
            what=what,
            value=_cut(shown),
        )
    if abs(value) > _LIMIT:
        raise MoneyError(
            f"{what}: {_short(shown)} is beyond the largest number huiqi accepts, {BOUND_TEXT}",
            why="beyond_bound",
            what=what,
            value=_cut(shown),
        )
    exponent = value.as_tuple().exponent
    if (
        isinstance(exponent, int)
        and exponent < -MAX_PLACES
        and value != value.quantize(_PLACES, context=EXACT)
    ):
        raise MoneyError(
            f"{what}: {_short(shown)} has more than {MAX_PLACES} decimal places",
            why="too_many_places",
            what=what,
            value=_cut(shown),
            places=MAX_PLACES,
        )
    return value


def check_count(value: int, *, what: str = "count") -> int:
    """A count (employees, patents...) within the one bound."""
    if abs(value) > MAX_MAGNITUDE:
        raise MoneyError(
            f"{what}: {_short(value)} is beyond the largest number huiqi accepts, {BOUND_TEXT}",
            why="beyond_bound",
            what=what,
            value=_cut(value),
        )
    return value


def parse_decimal(value: object, *, what: str = "value") -> Decimal:
    """Turn an int, a Decimal or a decimal string into a Decimal; refuse floats, bools, NaN and infinities."""
    if isinstance(value, bool):
        raise MoneyError(f"{what}: expected a decimal number, got a boolean", why="boolean", what=what)
    if isinstance(value, float):
        raise MoneyError(
            f'{what}: expected an exact decimal (write it as a string, e.g. "{value!r}"), got a float',
            why="float",
            what=what,
            value=repr(value),
        )
    if isinstance(value, int):
        if abs(value) > MAX_MAGNITUDE:  # before Decimal(): a 4,000-digit integer is refused, not converted
            check_count(value, what=what)
        return Decimal(value)
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, str):
        text = value.strip().replace("_", "").replace(",", "")
        if len(text) > MAX_NUMBER_TEXT:
            raise MoneyError(
                f"{what}: {_short(value)} is too long for a number (at most {MAX_NUMBER_TEXT} characters)",
                why="too_long",
                what=what,
                value=_cut(value),
                limit=MAX_NUMBER_TEXT,
            )
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise MoneyError(
                f"{what}: expected a decimal number, got {_short(value)}",
                why="not_a_number",
                what=what,
                value=_cut(value),
            ) from None
    else:
        raise MoneyError(
            f"{what}: expected a decimal number, got {type(value).__name__}",
            why="wrong_type",
            what=what,
            type=type(value).__name__,
        )
    return check_bound(result, what=what, shown=value)


def yuan(value: object, *, what: str = "amount") -> Decimal:
    """An amount in yuan, exact to the fen; more than two decimal places is an error, not a rounding."""
    amount = parse_decimal(value, what=what)
    if amount != amount.quantize(FEN, context=EXACT):
        raise MoneyError(
            f"{what}: {value!r} has more than two decimal places (yuan are exact to the fen)",
            why="not_fen",
            what=what,
            value=_cut(value),
        )
    return amount.quantize(FEN, context=EXACT)


def _wide(amount: Decimal) -> decimal.Context:
    """A context with room for every digit of ``amount`` and two places (computed amounts may exceed 60)."""
    return decimal.Context(prec=max(EXACT.prec, amount.adjusted() + 4), rounding=ROUND_HALF_UP)


def quantize_fen(amount: Decimal) -> Decimal:
    """Round a computed amount to the fen, half-up (any finite size: a computed amount is not bounded)."""
    try:
        return amount.quantize(FEN, rounding=ROUND_HALF_UP, context=EXACT)
    except InvalidOperation:
        if not amount.is_finite():
            raise MoneyError(
                f"cannot round {amount} to the fen: not a finite number",
                why="cannot_round",
                value=str(amount),
            ) from None
        return amount.quantize(FEN, rounding=ROUND_HALF_UP, context=_wide(amount))


def yuan_to_fen(amount: Decimal) -> int:
    """Integer fen of an amount already exact to the fen."""
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise MoneyError(
            f"{amount} yuan is not a whole number of fen", why="fraction_of_fen", value=str(amount)
        )
    return int(fen)


def fen_to_yuan(fen: int) -> Decimal:
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise MoneyError(
            f"fen must be an integer, got {type(fen).__name__}", why="fen_not_int", type=type(fen).__name__
        )
    return (Decimal(fen) / 100).quantize(FEN, context=EXACT)


def format_yuan(amount: Decimal, *, lang: str = "en", unit: bool = True) -> str:
    """Grouped, two places: ``5,000,000.00 yuan`` / ``5,000,000.00元``."""
    text = f"{quantize_fen(amount):,.2f}"
    if not unit:
        return text
    return f"{text}元" if lang == "zh" else f"{text} yuan"
