"""The programme file format, as pydantic models: what a YAML programme file may say.

This is the file's shape only (every date between 1900 and 2200, as in firm profiles). Expressions are
strings here; ``huiqi.rules.programme`` parses and checks them. The JSON Schema published by
``huiqi schema programme`` is generated from these models.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from huiqi.firms.profile import Date

ID_PATTERN = r"^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$"
NAME_PATTERN = r"^[a-z_][a-z0-9_]*$"


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Text(_Spec):
    """Text in both languages the system speaks."""

    en: str = Field(min_length=1)
    zh: str = Field(min_length=1)

    def get(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


#: a clause as the document heads it: one string shown in every language, or ``{en: ..., zh: ...}``
Clause = Annotated[str, Field(min_length=1)] | Text


#: a remark for the reader (why a value was chosen, where a figure comes from): one string shown in every
#: language, or ``{en: ..., zh: ...}`` so that a Chinese page reads it in Chinese
Note = str | Text


def in_language(text: str | Text, lang: str) -> str:
    """A clause (or any text that may be one string or both languages) as a page in ``lang`` shows it."""
    return text if isinstance(text, str) else text.get(lang)


def note_in(note: Note | None, lang: str) -> str | None:
    """A note as a page in ``lang`` shows it (trimmed), or None when there is none to show."""
    return (in_language(note, lang).strip() or None) if note is not None else None


class Document(_Spec):
    """A legal basis: the policy document that conditions and parameters cite."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")]
    title: Text
    number: str = Field(description="document number, e.g. 沪发改规范〔2023〕3号")
    date: Date
    issuer: Text | None = None
    url: str | None = None
    note: Note | None = Field(default=None, description="a remark: one string, or {en: ..., zh: ...}")


class Cited(_Spec):
    """Anything that cites a clause: ``clause`` names it, ``doc`` the document (default: the first)."""

    clause: Clause = Field(
        description="the clause, as the document numbers or heads it: one string, or {en: ..., zh: ...}"
    )
    doc: str | None = Field(default=None, description="id of a legal_basis document; default the first")
    note: Note | None = Field(default=None, description="a remark: one string, or {en: ..., zh: ...}")


class Period(_Spec):
    start: Date = Field(alias="from")
    end: Date | None = Field(default=None, alias="to")


class DatedValue(_Spec):
    """A parameter's value from a date on, as OpenFisca dates its parameters."""

    start: Date = Field(alias="from")
    value: Any
    clause: Clause | None = None


class Parameter(Cited):
    label: Text
    unit: Literal[
        "yuan",
        "rate",
        "count",
        "m2",
        "yuan/m2/day",
        "days",
        "months",
        "years",
        "year",
        "date",
        "text",
        "flag",
        "list",
    ]
    assumption: StrictBool = Field(
        default=False, description="true where the document leaves the choice open and this file makes it"
    )
    values: list[DatedValue] = Field(min_length=1)


class Value(Cited):
    """A named intermediate value: shown in explanations, usable by name in other expressions."""

    label: Text
    expr: str


class Condition(Cited):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")]
    label: Text
    test: str


class Exclusion(Cited):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")]
    label: Text
    when: str = Field(description="the firm is excluded when this holds")


class Amount(Cited):
    label: Text
    expr: str


class Pool(_Spec):
    id: Annotated[str, Field(pattern=ID_PATTERN)]
    name: Text
    size: Any = Field(description="yuan, exact")


Benefit = Literal["designation", "grant", "rent_subsidy", "voucher", "award"]


class ProgrammeSpec(_Spec):
    """One programme file."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    version: str = Field(min_length=1)
    name: Text
    authority: Text
    legal_basis: list[Document] = Field(min_length=1)
    effective: Period
    application_window: Period | None = None
    benefit: Benefit
    period: Literal["once", "annual"] = "once"
    pool: Pool | None = None
    summary: Text | None = None
    parameters: dict[Annotated[str, Field(pattern=NAME_PATTERN)], Parameter] = Field(default_factory=dict)
    values: dict[Annotated[str, Field(pattern=NAME_PATTERN)], Value] = Field(default_factory=dict)
    conditions: list[Condition] = Field(min_length=1)
    exclusions: list[Exclusion] = Field(default_factory=list)
    amount: Amount | None = None
