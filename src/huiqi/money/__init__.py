"""Exact amounts of money: Decimal yuan and integer fen, never floats."""

from huiqi.money.amount import (
    BOUND_TEXT,
    FEN,
    MAX_MAGNITUDE,
    MAX_PLACES,
    MoneyError,
    check_bound,
    check_count,
    fen_to_yuan,
    format_yuan,
    parse_decimal,
    quantize_fen,
    yuan,
    yuan_to_fen,
)

__all__ = [
    "BOUND_TEXT",
    "FEN",
    "MAX_MAGNITUDE",
    "MAX_PLACES",
    "MoneyError",
    "check_bound",
    "check_count",
    "fen_to_yuan",
    "format_yuan",
    "parse_decimal",
    "quantize_fen",
    "yuan",
    "yuan_to_fen",
]
