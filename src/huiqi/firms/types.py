"""Annotated field types shared by the firm profile and programme files: exact decimals, never floats."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from huiqi.money import parse_decimal, yuan


def _yuan(value: Any) -> Decimal:
    return yuan(value)


def _decimal2(value: Any) -> Decimal:
    return yuan(value, what="number")


_DECIMAL_SCHEMA = {
    "anyOf": [
        {"type": "string", "pattern": r"^-?[0-9][0-9_,]*(\.[0-9]{1,2})?$"},
        {"type": "integer"},
    ],
    "description": 'an exact decimal with at most two places, as a string ("1234.50") or an integer; '
    "floats are refused",
}

#: Yuan, exact to the fen. Serialised as a string so that JSON never turns it into a float.
Yuan = Annotated[
    Decimal,
    BeforeValidator(_yuan),
    PlainSerializer(lambda d: str(d), return_type=str, when_used="json"),
    WithJsonSchema(_DECIMAL_SCHEMA),
]

#: A non-money decimal with at most two places (office area in m2).
Decimal2 = Annotated[
    Decimal,
    BeforeValidator(_decimal2),
    PlainSerializer(lambda d: str(d), return_type=str, when_used="json"),
    WithJsonSchema(_DECIMAL_SCHEMA),
]


def _any_decimal(value: Any) -> Decimal:
    return parse_decimal(value)


#: Any exact decimal (rates in programme files: "0.3", "30%" is handled by the rules loader).
ExactDecimal = Annotated[
    Decimal,
    BeforeValidator(_any_decimal),
    PlainSerializer(lambda d: str(d), return_type=str, when_used="json"),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "integer"}], "description": "an exact decimal"}),
]
