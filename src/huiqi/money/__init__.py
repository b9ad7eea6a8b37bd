"""Exact amounts of money: Decimal yuan and integer fen, never floats."""

from huiqi.money.amount import (
    FEN,
    MoneyError,
    fen_to_yuan,
    format_yuan,
    parse_decimal,
    quantize_fen,
    yuan,
    yuan_to_fen,
)

__all__ = [
    "FEN",
    "MoneyError",
    "fen_to_yuan",
    "format_yuan",
    "parse_decimal",
    "quantize_fen",
    "yuan",
    "yuan_to_fen",
]
