"""The static types of the expression language, and the firm profile as the language sees it."""

from __future__ import annotations

import datetime as dt
import types as _pytypes
import typing
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from functools import lru_cache

from pydantic import BaseModel

from huiqi.firms.profile import Firm


class Kind(Enum):
    NUM = "number"
    BOOL = "boolean"
    DATE = "date"
    STR = "text"
    DUR = "duration"
    LIST = "list"
    RECORD = "record"
    COLLECTION = "list of records"
    YEARMAP = "amounts by year"


@dataclass(frozen=True, slots=True)
class Type:
    kind: Kind
    #: for LIST: the element type; for RECORD/COLLECTION: the record's name (``contracts``, ``firm``, ``ip``).
    item: Type | None = None
    record: str | None = None

    def __str__(self) -> str:
        if self.kind is Kind.LIST and self.item:
            return f"list of {self.item}"
        if self.kind in (Kind.RECORD, Kind.COLLECTION) and self.record:
            return f"{self.kind.value} ({self.record})"
        return self.kind.value


NUM = Type(Kind.NUM)
BOOL = Type(Kind.BOOL)
DATE = Type(Kind.DATE)
STR = Type(Kind.STR)
DUR = Type(Kind.DUR)
YEARMAP = Type(Kind.YEARMAP)
SCALARS = (NUM, BOOL, DATE, STR)


@dataclass(frozen=True, slots=True)
class Field:
    """A field of a record: its type, whether it may be missing, and its register column."""

    name: str
    type: Type
    nullable: bool
    column: str


@dataclass(frozen=True, slots=True)
class Record:
    name: str
    fields: dict[str, Field] = field(default_factory=dict)


def _unwrap(annotation: object) -> tuple[object, bool]:
    """Strip Annotated and Optional; say whether None was allowed."""
    nullable = False
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, _pytypes.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            nullable = nullable or len(args) < len(typing.get_args(annotation))
            annotation = args[0]
            continue
        return annotation, nullable


def _scalar_type(annotation: object) -> Type | None:
    if annotation is bool:
        return BOOL
    if annotation in (int, Decimal):
        return NUM
    if annotation is dt.date:
        return DATE
    if annotation is str or typing.get_origin(annotation) is typing.Literal:
        return STR
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return STR
    return None


def _record(name: str, model: type[BaseModel], prefix: str, records: dict[str, Record]) -> Record:
    rec = Record(name)
    for fname, info in model.model_fields.items():
        annotation, nullable = _unwrap(info.annotation)
        column = f"{prefix}{fname}"
        scalar = _scalar_type(annotation)
        if scalar is not None:
            rec.fields[fname] = Field(fname, scalar, nullable, column)
            continue
        origin = typing.get_origin(annotation)
        if origin is dict:
            rec.fields[fname] = Field(fname, YEARMAP, True, column)
        elif origin is tuple:
            item_model = typing.get_args(annotation)[0]
            _record(fname, item_model, "", records)
            rec.fields[fname] = Field(fname, Type(Kind.COLLECTION, record=fname), False, fname)
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            _record(fname, annotation, f"{column}_", records)
            rec.fields[fname] = Field(fname, Type(Kind.RECORD, record=fname), False, column)
        else:  # pragma: no cover - a new kind of profile field must be taught here
            raise TypeError(f"firm field {fname}: no expression type for {annotation!r}")
    records[name] = rec
    return rec


@lru_cache(maxsize=1)
def firm_records() -> dict[str, Record]:
    """Every record the language can read: ``firm`` and each nested object or list item in the profile."""
    records: dict[str, Record] = {}
    _record("firm", Firm, "", records)
    return records


def literal_type(value: object) -> Type:
    """The type of a parameter value or a literal (bool before int: bool is an int in Python)."""
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, Decimal | int):
        return NUM
    if isinstance(value, dt.date):
        return DATE
    if isinstance(value, str):
        return STR
    if isinstance(value, list | tuple):
        item_types = {literal_type(v) for v in value}
        if len(item_types) > 1:
            raise TypeError("a list mixes " + " and ".join(sorted(str(t) for t in item_types)))
        return Type(Kind.LIST, item=item_types.pop() if item_types else STR)
    raise TypeError(f"unsupported value {value!r}")
