"""Column types: money as integer fen in the database and exact Decimal yuan in Python; UTC timestamps."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from huiqi.money import MoneyError, fen_to_yuan, yuan, yuan_to_fen


class Money(TypeDecorator[Decimal]):
    """Stored as BIGINT fen so sums are exact on every backend; a float is refused before it reaches SQL."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, float):
            raise MoneyError(f"money column: got the float {value!r}; pass a Decimal or a decimal string")
        return yuan_to_fen(yuan(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        # PostgreSQL returns SUM(bigint) as numeric: an integral Decimal.
        if isinstance(value, Decimal):
            if value != value.to_integral_value():
                raise MoneyError(f"money column holds a fraction of a fen: {value}")
            value = int(value)
        return fen_to_yuan(int(value))

    def coerce_compared_value(self, op: Any, value: Any) -> Any:
        """Literals compared with or added to money are money too (yuan in, fen to SQL)."""
        return self


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Always timezone-aware UTC in Python; naive UTC on SQLite, timestamptz on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValueError(f"timestamps must be timezone-aware datetimes, got {value!r}")
        utc: dt.datetime = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
