"""What changes between two versions of a programme, as a reviewer reads it before publishing: parameters
(old -> new dated values, with their clauses), named values, conditions and exclusions (their tests, labels
and clauses), the amount, the period and legal basis, and the test cases added, changed or removed.

Pure: two loaded ``Programme`` objects and their test cases in, a ``ProgrammeDiff`` out; no database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from huiqi.rules.explain import fmt
from huiqi.rules.programme import Programme
from huiqi.rules.testing import Case

ADDED, REMOVED, CHANGED = "added", "removed", "changed"


@dataclass(frozen=True)
class DatedText:
    """A parameter's value from a date on, as a person reads it."""

    from_: dt.date
    value: str


@dataclass(frozen=True)
class ParameterChange:
    """A parameter added, removed, or whose dated values, clause or label changed."""

    name: str
    label: str
    change: str
    old: tuple[DatedText, ...]
    new: tuple[DatedText, ...]
    old_clause: str | None
    new_clause: str | None


@dataclass(frozen=True)
class RuleChange:
    """A condition, exclusion, named value or the amount added, removed or changed: its text (the test, the
    ``when``, the formula) and its label and clause on each side."""

    kind: str  # condition | exclusion | value | amount
    id: str
    change: str
    old_text: str | None
    new_text: str | None
    old_label: str | None
    new_label: str | None
    old_clause: str | None
    new_clause: str | None


@dataclass(frozen=True)
class FieldChange:
    """A field of the file's head (name, period, legal basis, pool, benefit) that differs."""

    field: str
    old: str
    new: str


@dataclass(frozen=True)
class CaseChange:
    """A test case (by programme and name) added, removed, or whose date, firm or expectation changed."""

    programme: str
    name: str
    change: str
    old_on: dt.date | None
    new_on: dt.date | None
    old_expect: str | None
    new_expect: str | None


@dataclass(frozen=True)
class ProgrammeDiff:
    """Everything that differs between two versions of one programme (empty tuples: nothing)."""

    programme: str
    old_version: str
    new_version: str
    fields: tuple[FieldChange, ...]
    parameters: tuple[ParameterChange, ...]
    rules: tuple[RuleChange, ...]
    tests: tuple[CaseChange, ...]

    @property
    def empty(self) -> bool:
        """Whether the two versions decide and read alike (tests aside)."""
        return not (self.fields or self.parameters or self.rules)


def _dated(p: Programme, name: str, lang: str) -> tuple[DatedText, ...]:
    spec = p.spec.parameters[name]
    return tuple(
        DatedText(dv.start, fmt(value, spec.unit, lang))
        for dv, value in zip(spec.values, p.params[name].values, strict=True)
    )


def _parameters(old: Programme, new: Programme, lang: str) -> list[ParameterChange]:
    out = []
    for name in [*old.spec.parameters, *(n for n in new.spec.parameters if n not in old.spec.parameters)]:
        a, b = old.spec.parameters.get(name), new.spec.parameters.get(name)
        was = _dated(old, name, lang) if a is not None else ()
        now = _dated(new, name, lang) if b is not None else ()
        ca = old.cite(a.clause, a.doc, lang) if a is not None else None
        cb = new.cite(b.clause, b.doc, lang) if b is not None else None
        la = a.label.get(lang) if a is not None else None
        lb = b.label.get(lang) if b is not None else None
        change = ADDED if a is None else REMOVED if b is None else CHANGED
        if change == CHANGED and (was, ca, la) == (now, cb, lb):
            continue
        out.append(ParameterChange(name, lb or la or name, change, was, now, ca, cb))
    return out


def _rules(old: Programme, new: Programme, lang: str) -> list[RuleChange]:
    def items(p: Programme) -> dict[tuple[str, str], tuple[str, str, str]]:
        s = p.spec
        found: dict[tuple[str, str], tuple[str, str, str]] = {}
        for n, v in s.values.items():
            found["value", n] = (v.expr.strip(), v.label.get(lang), "")
        for c in s.conditions:
            found["condition", c.id] = (c.test.strip(), c.label.get(lang), p.cite(c.clause, c.doc, lang))
        for x in s.exclusions:
            found["exclusion", x.id] = (x.when.strip(), x.label.get(lang), p.cite(x.clause, x.doc, lang))
        if s.amount is not None:
            found["amount", "amount"] = (
                s.amount.expr.strip(),
                s.amount.label.get(lang),
                p.cite(s.amount.clause, s.amount.doc, lang),
            )
        return found

    a, b = items(old), items(new)
    out = []
    for key in [*a, *(k for k in b if k not in a)]:
        x, y = a.get(key), b.get(key)
        if x == y:
            continue
        change = ADDED if x is None else REMOVED if y is None else CHANGED
        out.append(
            RuleChange(
                key[0],
                key[1],
                change,
                x[0] if x else None,
                y[0] if y else None,
                x[1] if x else None,
                y[1] if y else None,
                (x[2] or None) if x else None,
                (y[2] or None) if y else None,
            )
        )
    return out


def _fields(old: Programme, new: Programme, lang: str) -> list[FieldChange]:
    def head(p: Programme) -> dict[str, str]:
        s = p.spec
        return {
            "name": s.name.get(lang),
            "benefit": s.benefit,
            "authority": s.authority.get(lang),
            "effective": f"{s.effective.start} – {s.effective.end or '…'}",
            "legal_basis": "; ".join(f"{d.title.get(lang)} ({d.number}, {d.date})" for d in s.legal_basis),
            "pool": f"{s.pool.id} {s.pool.size}" if s.pool else "",
        }

    a, b = head(old), head(new)
    return [FieldChange(k, a[k], b[k]) for k in a if a[k] != b[k]]


def _expect(c: Case) -> str:
    parts = []
    if c.eligible is not None:
        parts.append(f"eligible={str(c.eligible).lower()}")
    if c.amount is not None:
        parts.append(f"amount={c.amount}")
    if c.unmet is not None:
        parts.append(f"unmet={','.join(sorted(c.unmet))}")
    return " ".join(parts)


def diff_cases(old: Iterable[Case], new: Iterable[Case]) -> list[CaseChange]:
    """Test cases added, removed or changed, matched by programme and name."""
    a = {(c.programme, c.name): c for c in old}
    b = {(c.programme, c.name): c for c in new}
    out = []
    for key in [*a, *(k for k in b if k not in a)]:
        x, y = a.get(key), b.get(key)
        if x is not None and y is not None and (x.on, x.firm, _expect(x)) == (y.on, y.firm, _expect(y)):
            continue
        change = ADDED if x is None else REMOVED if y is None else CHANGED
        out.append(
            CaseChange(
                key[0],
                key[1],
                change,
                x.on if x else None,
                y.on if y else None,
                _expect(x) if x else None,
                _expect(y) if y else None,
            )
        )
    return out


def diff_programmes(
    old: Programme,
    new: Programme,
    *,
    old_cases: Sequence[Case] = (),
    new_cases: Sequence[Case] = (),
    lang: str = "en",
) -> ProgrammeDiff:
    """What changes from ``old`` to ``new`` (two versions of one programme, or a version and its edited
    copy), in a language, with the test cases of each side."""
    return ProgrammeDiff(
        programme=new.id,
        old_version=old.version,
        new_version=new.version,
        fields=tuple(_fields(old, new, lang)),
        parameters=tuple(_parameters(old, new, lang)),
        rules=tuple(_rules(old, new, lang)),
        tests=tuple(diff_cases(old_cases, new_cases)),
    )
