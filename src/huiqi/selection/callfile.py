"""The call file: a call's rubric, review settings, quotas, rank bands, budget and tranches, in YAML.

Read like the programme files: YAML with positions (``huiqi.rules.yamlpos``), a strict schema (unknown
fields refused), and every problem reported at ``file:line:column`` before anything is used. Money is
Decimal yuan (YAML numbers with a fraction are read as Decimals, never floats).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from huiqi.firms.errors import format_loc
from huiqi.firms.io import TextFileError, read_text_any_encoding
from huiqi.money import FEN
from huiqi.rules.errors import Location, Problem
from huiqi.rules.yamlpos import YamlError, load_with_positions, nearest
from huiqi.selection.errors import CallFileError

Yuan = Annotated[Decimal, Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Strict):
    en: str = Field(min_length=1)
    zh: str = Field(min_length=1)


class Scale(_Strict):
    min: Decimal = Decimal(0)
    max: Decimal
    #: Scores must be multiples of ``step`` above ``min`` (1: whole points; 0.5: half points).
    step: Decimal = Decimal(1)

    @model_validator(mode="after")
    def _order(self) -> Scale:
        if self.max <= self.min:
            raise ValueError(f"max ({self.max}) must be above min ({self.min})")
        if self.step <= 0:
            raise ValueError("step must be positive")
        return self


class Criterion(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    label: Text
    weight: Decimal = Field(gt=0)
    scale: Scale


class Review(_Strict):
    reviewers_per_application: int = Field(ge=1, le=15)
    #: Employment at the applicant (or a named competitor) within this many years is a conflict.
    recent_employment_years: int = Field(default=3, ge=0)
    #: A reviewer with fewer scored applications than this is normalised with the pooled mean and spread.
    min_reviews_for_z: int = Field(default=5, ge=2)


class Quotas(_Strict):
    total: int = Field(ge=1)
    #: At most this many designations per sector; a sector not named gets none.
    sector: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    #: At most this many per district, where the call says so (districts not named are not limited).
    district: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)


class Band(_Strict):
    """Grant amount for ranks ``from``..``to`` (inclusive; ``to`` omitted: every rank after)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    first: int = Field(alias="from", ge=1)
    last: int | None = Field(default=None, alias="to", ge=1)
    amount: Decimal = Field(ge=0)


class Budget(_Strict):
    amount: Yuan
    #: The rank a band reads: the application's rank in its sector, or in the whole field.
    rank_within: Literal["sector", "all"] = "sector"
    bands: tuple[Band, ...] = Field(min_length=1)


class TrancheSpec(_Strict):
    share: Decimal = Field(gt=0, le=1)
    milestone: str = Field(min_length=1)
    due: dt.date


class Reserve(_Strict):
    per_sector: int = Field(default=3, ge=0)


class CallFile(_Strict):
    call: str = Field(min_length=1)
    programme: str = Field(min_length=1)
    #: The programme whose money the designated firms receive (the start-up grant); none: designation only.
    grant_programme: str | None = None
    batch: Text
    date: dt.date
    rubric: tuple[Criterion, ...] = Field(min_length=1)
    review: Review
    quotas: Quotas
    min_score: Decimal = Decimal(0)
    budget: Budget | None = None
    tranches: tuple[TrancheSpec, ...] = ()
    reserve: Reserve = Reserve()

    @field_validator("rubric")
    @classmethod
    def _unique_criteria(cls, value: tuple[Criterion, ...]) -> tuple[Criterion, ...]:
        seen: set[str] = set()
        for c in value:
            if c.id in seen:
                raise ValueError(f"criterion {c.id!r} appears twice")
            seen.add(c.id)
        return value

    @field_validator("tranches")
    @classmethod
    def _shares(cls, value: tuple[TrancheSpec, ...]) -> tuple[TrancheSpec, ...]:
        if value and sum((t.share for t in value), Decimal(0)) != 1:
            raise ValueError("tranche shares must add up to 1 (100%)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CallFile:
        if self.quotas.sector and sum(self.quotas.sector.values()) < self.quotas.total:
            raise ValueError(
                f"quotas: the sector quotas add up to {sum(self.quotas.sector.values())}, "
                f"fewer than the total {self.quotas.total}"
            )
        if self.budget is not None:
            ranges = sorted(self.budget.bands, key=lambda b: b.first)
            expected = 1
            for b in ranges:
                if b.first != expected:
                    raise ValueError(f"budget.bands: ranks must run on from {expected}, found from {b.first}")
                if b.last is not None and b.last < b.first:
                    raise ValueError(f"budget.bands: to ({b.last}) is before from ({b.first})")
                if b.amount != b.amount.quantize(FEN):
                    raise ValueError(f"budget.bands: {b.amount} has more than two decimal places")
                expected = (b.last or 10**9) + 1
            if ranges[-1].last is not None:
                raise ValueError("budget.bands: the last band needs no 'to' (it covers every later rank)")
        if self.tranches and self.budget is None:
            raise ValueError("tranches need a budget (there is no money to split)")
        return self

    @property
    def weights(self) -> dict[str, Decimal]:
        return {c.id: c.weight for c in self.rubric}

    def band_amount(self, rank: int) -> Decimal:
        """The grant for a rank (Decimal yuan); 0 without a budget."""
        if self.budget is None:
            return Decimal("0.00")
        for b in self.budget.bands:
            if b.first <= rank and (b.last is None or rank <= b.last):
                return b.amount.quantize(FEN)
        return Decimal("0.00")  # pragma: no cover - bands run on to infinity


def _problems(path: str, exc: ValidationError, positions: dict[Any, Any]) -> list[Problem]:
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        pos = nearest(positions, loc)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = f"unknown field {loc[-1]!r}"
        elif err["type"] == "missing":
            msg = f"required field {loc[-1]!r} is missing"
        where = format_loc(loc) if loc else "(file)"
        out.append(Problem(Location(path, pos.line, pos.column), f"{where}: {msg}"))
    return out


def parse_call_file(text: str, *, path: str = "<call file>") -> CallFile:
    """Validate a call file's text; raise CallFileError naming every problem with its position."""
    try:
        data, positions = load_with_positions(text)
    except YamlError as exc:
        raise CallFileError([Problem(Location(path, exc.line, exc.column), exc.message)]) from None
    if not isinstance(data, dict):
        raise CallFileError([Problem(Location(path, 1, 1), "a call file must be a mapping")])
    try:
        return CallFile.model_validate(data)
    except ValidationError as exc:
        raise CallFileError(_problems(path, exc, positions)) from None


def load_call_file(path: Path) -> CallFile:
    try:  # UTF-8, or GB18030/UTF-16 as a Chinese Windows editor may save it
        text = read_text_any_encoding(path)
    except TextFileError as exc:
        raise CallFileError([Problem(Location(str(path)), exc.message)]) from None
    return parse_call_file(text, path=str(path))
