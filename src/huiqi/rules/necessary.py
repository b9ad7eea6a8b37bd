"""Necessary tests: cheap facts every firm eligible for a programme has, found by reading its conditions.

A reform's report only needs the firms eligible somewhere, before or after; most firms of a register fail
a programme on something cheap to know - the city they are registered in, their sector, having no contract
of the kind a voucher pays for. ``necessary`` finds such tests so that the compiler can drop the other
firms before it joins and groups the register's child tables (``compile_pack(..., candidates_only=True)``).

A test is only ever *implied by* eligibility, never the other way round, so a firm kept is evaluated in
full and a firm dropped is ineligible for certain:

- a condition that reads the firm's own fields only (through values too) is itself necessary (``FirmTest``);
- a condition whose only reads of the firm are aggregates over its lists, and which is not true when those
  lists hold no item the aggregates count (worked out by the scalar evaluator with such a firm), needs
  the firm to have such an item (``Exists``);
- ``a and b`` needs what each needs; ``a or b`` what either needs; ``eligible("x")`` what x needs;
- a programme not in force on the date is never eligible (``NEVER``).

Anything else tells nothing (None), and a programme about which nothing is known keeps every firm.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from huiqi.firms.profile import Firm
from huiqi.rules import ast
from huiqi.rules.errors import EvaluationError
from huiqi.rules.evaluator import Engine, ProgrammeRun
from huiqi.rules.programme import Programme
from huiqi.rules.types import Kind, firm_records


@dataclass(frozen=True)
class FirmTest:
    """A test on the firm's own fields that must be true (``negate``: must not be true, an exclusion)."""

    programme: Programme
    node: ast.Node
    negate: bool = False


@dataclass(frozen=True)
class Exists:
    """The firm has an item in ``table`` that one of these aggregates counts: its ``if`` holds and, for
    ``any``, its element too (the aggregates of a firm without such an item have their empty values)."""

    table: str
    aggregates: tuple[tuple[Programme, ast.Comprehension], ...]


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Formula, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Formula, ...]


Formula = FirmTest | Exists | AllOf | AnyOf
#: no firm passes: what a programme out of force needs
NEVER = AnyOf(())


class _ReadsFirm(Exception):
    """The empty firm was asked for a field other than a list."""


class _EmptyFirm:
    """A firm whose lists hold nothing and whose other fields cannot be read."""

    def __init__(self, lists: frozenset[str]) -> None:
        self._lists = lists

    def __getattr__(self, name: str) -> Any:
        if name in self._lists:
            return ()
        raise _ReadsFirm(name)


class Necessary:
    """What eligibility for each programme of a mapping needs on one date (worked out once a programme)."""

    def __init__(self, programmes: Mapping[str, Programme], on: dt.date) -> None:
        self.programmes = programmes
        self.on = on
        firm = firm_records()["firm"]
        self._lists = frozenset(name for name, f in firm.fields.items() if f.type.kind is Kind.COLLECTION)
        self._found: dict[str, Formula | None] = {}

    def of(self, pid: str) -> Formula | None:
        if pid not in self._found:
            self._found[pid] = None  # a cycle (refused by the loader) would tell nothing
            self._found[pid] = self._programme(self.programmes[pid])
        return self._found[pid]

    def _programme(self, p: Programme) -> Formula | None:
        eff = p.spec.effective
        if not (eff.start <= self.on and (eff.end is None or self.on <= eff.end)):
            return NEVER
        parts = [self._test(p, e.node) for e in p.conditions.values()]
        parts += [
            FirmTest(p, e.node, negate=True)
            for e in p.exclusions.values()
            if self._reads(p, e.node) == "firm"
        ]
        return _all(parts)

    def _test(self, p: Programme, node: ast.Node) -> Formula | None:
        reads = self._reads(p, node)
        if reads == "firm":
            return FirmTest(p, node)
        if reads == "lists" and self._empty_value(p, node) is not True:
            by_table: dict[str, list[tuple[Programme, ast.Comprehension]]] = {}
            for agg in self._aggregates(p, node):
                by_table.setdefault(agg.collection.name, []).append((p, agg))  # type: ignore[attr-defined]
            found = [Exists(t, tuple(aggs)) for t, aggs in sorted(by_table.items())]
            return found[0] if len(found) == 1 else AnyOf(tuple(found))
        match node:
            case ast.BoolOp(op="and", values=vs):
                return _all([self._test(p, v) for v in vs])
            case ast.BoolOp(op="or", values=vs):
                parts = [self._test(p, v) for v in vs]
                known = [x for x in parts if x is not None]
                return AnyOf(tuple(known)) if len(known) == len(parts) else None
            case ast.Call(func="eligible", args=(ast.String(value=ref),)):
                return self.of(ref)
            case ast.Name(id=name) if name in p.values:
                return self._test(p, p.values[name].node)
        return None

    def _reads(self, p: Programme, node: ast.Node) -> str | None:
        """ "firm": reads the firm's own fields and nothing else of it; "lists": reads it only through
        aggregates whose item tests read nothing but the item; None: anything else (another programme, a
        constant, a mix)."""
        firm = lists = False
        todo, seen = [node], set()
        while todo:
            n = todo.pop()
            if id(n) in seen:
                continue
            seen.add(id(n))
            match n:
                case ast.Comprehension(element=el, cond=cond):
                    if any(self._touches_firm(p, x) for x in (el, cond) if x is not None):
                        return None
                    lists = True
                    continue
                case ast.Call(func="eligible" | "amount"):
                    return None
                case ast.Name(id="firm"):
                    firm = True
                case ast.Name(id=name) if name in p.values:
                    todo.append(p.values[name].node)
            todo.extend(ast.children(n))
        if firm and not lists:
            return "firm"
        if lists and not firm:
            return "lists"
        return None

    def _touches_firm(self, p: Programme, node: ast.Node) -> bool:
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and (n.id == "firm" or n.id in p.values):
                return True
            if isinstance(n, ast.Call) and n.func in ("eligible", "amount"):
                return True
        return False

    def _aggregates(self, p: Programme, node: ast.Node) -> list[ast.Comprehension]:
        out: list[ast.Comprehension] = []
        for n in ast.walk(node):
            if isinstance(n, ast.Comprehension):
                out.append(n)
            elif isinstance(n, ast.Name) and n.id in p.values:
                out.extend(self._aggregates(p, p.values[n.id].node))
        return out

    def _empty_value(self, p: Programme, node: ast.Node) -> Any:
        """The test's value for a firm whose lists hold nothing (the scalar evaluator's own semantics)."""
        engine = Engine({p.id: p}, cast(Firm, _EmptyFirm(self._lists)), self.on)
        try:
            return ProgrammeRun(engine, p).ev(node)
        except (_ReadsFirm, EvaluationError):  # pragma: no cover - _reads allowed only list reads
            return True  # tells nothing


def _all(parts: list[Formula | None]) -> Formula | None:
    known = tuple(x for x in parts if x is not None)
    if not known:
        return None
    return known[0] if len(known) == 1 else AllOf(known)


def split(formula: Formula) -> tuple[Formula | None, Formula | None]:
    """Two weaker formulas, each implied by ``formula``: its tests of the firm's own fields only, and its
    tests of the firm's lists only (None: nothing left to test). The first is cheap on every row of a
    register; the second, a semi-join a table, is then needed only on the rows the first kept. In the
    second, the ``Exists`` a disjunction holds on the same table become one (the same semi-join)."""
    return _only(formula, FirmTest), _only(formula, Exists)


def _only(f: Formula, kind: type[FirmTest] | type[Exists]) -> Formula | None:
    if isinstance(f, FirmTest | Exists):
        return f if isinstance(f, kind) else None
    parts = [_only(x, kind) for x in f.parts]
    if isinstance(f, AllOf):
        return _all(parts)
    known = [x for x in parts if x is not None]
    if len(known) < len(parts):  # a disjunct that tells nothing: the whole tells nothing
        return None
    merged: dict[str, Exists] = {}
    rest: list[Formula] = []
    for x in known:
        if isinstance(x, Exists):
            seen = merged.get(x.table)
            merged[x.table] = x if seen is None else Exists(x.table, seen.aggregates + x.aggregates)
        else:
            rest.append(x)
    out = tuple(rest) + tuple(merged[t] for t in sorted(merged))
    return out[0] if len(out) == 1 else AnyOf(out)
