"""Read models to JSON and back: the API's answers, and the answers of money moves kept with their
idempotency key (a replay returns the stored answer as the same read model).

Amounts are decimal strings (never floats), times ISO 8601, tuples lists. A field whose name ends in ``_``
(a Python keyword, ``from_``) is the key without it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import types
import typing
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def key_of(field: str) -> str:
    """The JSON key of a read model's field."""
    return field[:-1] if field.endswith("_") else field


def as_json(value: Any) -> Any:
    """``value`` (read models, amounts, times, lists, maps) as JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {key_of(f.name): as_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    return value


@functools.cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(kind: Any, raw: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        if raw is None:
            return None
        (inner,) = [a for a in typing.get_args(kind) if a is not type(None)]
        return _decode(inner, raw)
    if origin is tuple:
        return tuple(_decode(typing.get_args(kind)[0], v) for v in raw)
    if origin is list:
        return [_decode(typing.get_args(kind)[0], v) for v in raw]
    if origin is dict:
        return dict(raw)
    if kind is Decimal:
        return Decimal(str(raw))
    if kind is dt.datetime:
        return dt.datetime.fromisoformat(raw)
    if kind is dt.date:
        return dt.date.fromisoformat(raw)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return from_json(kind, raw)
    return raw


def from_json(cls: type[T], data: dict[str, Any]) -> T:
    """The read model ``cls`` from its JSON (fields missing from ``data`` keep their defaults)."""
    hints = _hints(typing.cast(Any, cls))
    values = {
        f.name: _decode(hints[f.name], data[key_of(f.name)])
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if key_of(f.name) in data
    }
    return cls(**values)
