"""The vectorised compiler: programmes -> one Ibis expression over the register's tables.

Nothing here is DuckDB's: the same expression runs on PostgreSQL and Spark. Semantics follow
``evaluator.py`` exactly (see its docstring); in particular every decimal carries a static scale that
the compiler tracks and casts to, so each backend computes what the scalar evaluator computes:
sums keep the larger scale, products add scales and round half-up to ``PRODUCT_SCALE`` places past it.

Constant sub-expressions (parameters, dates, numbers) are folded by the scalar evaluator itself, so a
constant means the same thing in both evaluators by construction.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import ibis
import ibis.expr.datatypes as dt_
import ibis.expr.operations as ops
import ibis.expr.types as ir
from ibis.common.exceptions import IbisError

from huiqi.rules import ast
from huiqi.rules.errors import EvaluationError
from huiqi.rules.evaluator import PRODUCT_SCALE, Duration, Engine, ProgrammeRun
from huiqi.rules.gcpause import gc_paused
from huiqi.rules.necessary import AllOf, AnyOf, Exists, FirmTest, Formula, Necessary, split
from huiqi.rules.programme import Expression, Programme
from huiqi.rules.types import BOOL, DATE, NUM, STR, Kind, Type, firm_records

MONEY_SCALE = 2
WIDTH = 38
#: an amount as the results hold it (``huiqi.matching``): to the fen, within 10^16 yuan (money is bounded by
#: ``huiqi.money.MAX_MAGNITUDE``); 8-byte decimals where DECIMAL(38) took 16 in every engine and file
AMOUNT = dt_.Decimal(18, MONEY_SCALE)
#: lists up to this long are tested by equalities rather than IN (see ``compare``)
SHORT_LIST = 16
#: a programme with up to this many tests gets its unmet list by lookup (``_Compiler.unmet``): 2**n strings
UNMET_BITS = 10


def dec(scale: int) -> dt_.Decimal:
    return dt_.Decimal(WIDTH, scale)


@dataclass
class Col:
    """A compiled value: the Ibis expression and, for numbers, its decimal scale."""

    expr: ir.Value
    scale: int | None = None


def _decimal_scale(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # nosec B101  # narrows the type for mypy
    return max(0, -exponent)


def literal(value: Any, t: Type) -> Col:
    if t == NUM:
        if value is None:
            return Col(ibis.null().cast(dec(MONEY_SCALE)), MONEY_SCALE)
        scale = _decimal_scale(value)
        return Col(ibis.literal(value, type=dec(scale)), scale)
    if t == BOOL:
        return Col(ibis.literal(value, type="boolean") if value is not None else ibis.null().cast("boolean"))
    if t == DATE:
        return Col(ibis.literal(value, type="date") if value is not None else ibis.null().cast("date"))
    if t == STR:
        return Col(ibis.literal(value, type="string") if value is not None else ibis.null().cast("string"))
    if t.kind is Kind.LIST:
        return Col(ibis.literal(None), None)  # lists are only used by 'in', handled there
    raise EvaluationError(f"cannot make a literal of {t}")  # pragma: no cover


def rescale(c: Col, scale: int) -> ir.Value:
    """``c`` at a larger scale. A register column widened as read is cast once, straight from its stored
    type: both casts only add digits, so one gives the same value, and each is a pass over every firm."""
    if c.scale == scale:
        return c.expr
    op = c.expr.op()
    if isinstance(op, ops.Cast) and isinstance(op.arg, ops.Field) and _widens(op.arg.dtype, scale):
        return op.arg.to_expr().cast(dec(scale))
    return c.expr.cast(dec(scale))


def _widens(source: dt_.DataType, scale: int) -> bool:
    """Whether casting ``source`` to ``dec(scale)`` loses nothing: an integer, or a decimal of no more digits
    before the point or after it."""
    if source.is_integer():
        return True
    if not isinstance(source, dt_.Decimal) or source.precision is None or source.scale is None:
        return False
    return bool(source.scale <= scale and source.precision - source.scale <= WIDTH - scale)


def known(test: ir.BooleanValue) -> ir.BooleanValue:
    """``test`` with unknown as false. A test already filled with a constant (an aggregate over no rows:
    ``any`` false, ``all`` true) cannot be unknown and is kept as it is: a second COALESCE was one more pass
    over every firm for each such test."""
    op = test.op()
    if isinstance(op, ops.Coalesce) and isinstance(op.arg[-1], ops.Literal) and op.arg[-1].value is not None:
        return test
    return test.fill_null(False)


@dataclass
class _Aggregate:
    node: ast.Comprehension
    programme: Programme
    column: str
    scale: int | None = None


@dataclass
class CompiledPack:
    """The compiled result table (one row a firm, two columns a programme) and how to read it."""

    table: ir.Table
    programmes: list[str]
    columns: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # pid -> (eligible, amount, unmet)
    #: eligibility-only: programme -> the programme whose first failed test it reuses (``plan_sharing``)
    derived: dict[str, str] = field(default_factory=dict)
    #: unmet column -> every list it can hold (programmes of up to ``UNMET_BITS`` tests), at the position
    #: whose bits are the failed tests (``unmet_lists``): writers store a column of few values cheaper when
    #: told them (``backends.copy_to_parquet``)
    unmet_values: dict[str, list[str]] = field(default_factory=dict)
    #: where the engine looks unmet lists up: ``table`` with those unmet columns as the failed tests' bits
    #: (an integer), for a writer that turns them into the lists itself
    as_bits: ir.Table | None = None


class _Compiler:
    def __init__(
        self,
        programmes: Mapping[str, Programme],
        on: dt.date,
        tables: Mapping[str, ir.Table],
        *,
        lazy: bool = False,
        lookup: bool = False,
    ) -> None:
        #: lazy: eligibility only (no unmet lists), so conditions need not all be computed for every firm
        self.lazy = lazy
        #: unmet lists picked from a constant array by the failed tests' bits (see ``unmet``)
        self.lookup = lookup
        self.programmes = programmes
        self.on = on
        self.tables = tables
        self.records = firm_records()
        # constants never read the firm, so the folding engine has none
        self.engine = Engine(programmes, None, on)  # type: ignore[arg-type]
        self.runs: dict[str, ProgrammeRun] = {}
        self.aggregates: dict[ast.Comprehension, _Aggregate] = {}
        self.base: ir.Table = tables["firms"]
        self.eligible_cache: dict[str, ir.BooleanValue] = {}
        self.amount_cache: dict[str, Col] = {}
        self.value_cache: dict[tuple[str, str], Col] = {}
        self.local: tuple[str, ir.Table] | None = None
        self.programme: Programme | None = None
        #: items computed once as columns of ``base``: key -> (column, scale)
        self.materialized: dict[tuple[str, ...], tuple[str, int | None]] = {}
        self._checked_of: dict[str, dict[ast.Node, Any]] = {}
        #: lazy only: programme -> the programme whose test results it reuses (see ``plan_sharing``)
        self.derived: dict[str, str] = {}
        #: lazy only: programmes whose eligibility is materialised as the index of the first failed test
        self.sources: set[str] = set()
        self._chains: dict[str, list[tuple[str, str, Expression]]] = {}

    # -- constants ------------------------------------------------------------------------------------
    def fold(self, programme: Programme, node: ast.Node) -> Any:
        run = self.runs.get(programme.id)
        if run is None:
            run = self.runs[programme.id] = ProgrammeRun(self.engine, programme)
        return run.ev(node)

    def narrow(self, ids: list[str], keep: tuple[str, ...]) -> None:
        """Keep of the firms table only the columns the programmes read (and ``keep``): every layer of the
        compiled table carries the firms' columns, and building its SQL costs in proportion (a register has
        fifty-odd columns; a programme reads a handful)."""
        wanted = register_reads(self.programmes, ids, self.base.columns)[0]
        years = self._years_read(ids)
        if years is not None:  # of a year map, only the years indexed (register_reads keeps every year)
            prefixes, columns = years
            wanted = {c for c in wanted if not _year_of(c, prefixes)} | columns
        wanted |= set(keep)
        self.base = self.base.select(*(c for c in self.base.columns if c in wanted))

    def _years_read(self, ids: list[str]) -> tuple[set[str], set[str]] | None:
        """The firm's year maps the programmes index (their column prefixes) and the year columns they read:
        a year is a constant (the checker refuses one depending on the firm), folded here as ``read`` folds
        it. None where an index is not ``firm.<year map>[constant year]``: every year is kept then."""
        prefixes: set[str] = set()
        columns: set[str] = set()
        fields = self.records["firm"].fields
        for pid in self.needed(ids):
            programme = self.programmes[pid]
            for e in programme.expressions():
                for node in ast.walk(e.node):
                    if not isinstance(node, ast.Index):
                        continue
                    obj = node.obj
                    if not (
                        isinstance(obj, ast.Attr) and isinstance(obj.obj, ast.Name) and obj.obj.id == "firm"
                    ):
                        return None
                    field_ = fields.get(obj.name)
                    year = self.fold(programme, node.index)
                    if (
                        field_ is None
                        or field_.type.kind is not Kind.YEARMAP
                        or year is None
                        or year != int(year)
                    ):
                        return None
                    prefixes.add(field_.column)
                    columns.add(f"{field_.column}_{int(year)}")
        return prefixes, columns

    # -- aggregates: one group-by per child table, joined once --------------------------------------
    def needed(self, ids: list[str]) -> list[str]:
        """The programmes asked for and those they refer to, dependencies first."""
        out: list[str] = []

        def need(pid: str) -> None:
            if pid not in out:
                for dep in sorted(self.programmes[pid].depends_on):
                    need(dep)
                out.append(pid)

        for pid in ids:
            need(pid)
        return out

    def collect_aggregates(self, ids: list[str]) -> None:
        for programme in (self.programmes[pid] for pid in ids):
            for e in programme.expressions():
                for node in ast.walk(e.node):
                    if isinstance(node, ast.Comprehension) and node not in self.aggregates:
                        self.aggregates[node] = _Aggregate(node, programme, f"_agg{len(self.aggregates)}")
        by_table: dict[str, list[_Aggregate]] = {}
        for agg in self.aggregates.values():
            by_table.setdefault(agg.node.collection.name, []).append(agg)  # type: ignore[attr-defined]
        # one join of the firms with every child table's group-by: a layer (and its SQL) for each child table
        # listed every column of the firms again, which ibis spent its time writing out
        joined, keys = self.base, list[str]()
        for table_name, aggs in by_table.items():
            child = self._counted_rows(self.tables[table_name], aggs)
            metrics = {}
            for agg in aggs:
                self.programme = agg.programme
                self.local = (agg.node.var, child)
                try:
                    metrics[agg.column] = self.aggregate_metric(agg, child)
                finally:
                    self.local = None
            key = f"_key{len(keys)}"
            grouped = child.group_by(child.uscc.name(key)).aggregate(**metrics)
            joined = joined.left_join(grouped, self.base.uscc == grouped[key])
            keys.append(key)
        if keys:
            self.base = joined.drop(*keys)

    def _counted_rows(self, child: ir.Table, aggs: list[_Aggregate]) -> ir.Table:
        """The child table cut to the rows some aggregate counts (its condition holds; for ``any``, its item
        too), where every aggregate has a condition: the others' rows change no result, since a firm without
        rows reads as one with none counted (``aggregate_column`` fills its nulls). Fewer rows to group, and
        fewer firms to join (the offices: only the headquarters, about half)."""
        tests: dict[Any, ir.BooleanValue] = {}  # equal tests (the same condition in two aggregates) once
        for agg in aggs:
            node = agg.node
            parts = [node.cond] if node.cond is not None else []
            if node.func == "any":
                parts.append(node.element)
            if not parts:  # every row counts
                return child
            self.programme, self.local = agg.programme, (node.var, child)
            try:
                test = functools.reduce(operator.and_, [known(self.compile(x).expr) for x in parts])
                tests.setdefault(test.op(), test)
            finally:
                self.local = None
        return child.filter(functools.reduce(operator.or_, tests.values())) if tests else child

    def aggregate_metric(self, agg: _Aggregate, child: ir.Table) -> ir.Value:
        node = agg.node
        where = None
        if node.cond is not None:
            where = known(self.compile(node.cond).expr)
        if node.func == "count":
            agg.scale = 0
            return child.uscc.count(where=where)
        el = self.compile(node.element)
        agg.scale = el.scale
        expr = el.expr
        if node.func == "sum":
            return expr.sum(where=where)
        if node.func == "any":
            return expr.any(where=where)
        if node.func == "all":
            return expr.all(where=where)
        if node.func == "min":
            return expr.min(where=where)
        return expr.max(where=where)

    def aggregate_column(self, node: ast.Comprehension) -> Col:
        agg = self.aggregates[node]
        col = self.base[agg.column]
        if node.func == "count":
            return Col(col.fill_null(0).cast(dec(0)), 0)
        if node.func == "sum":
            assert agg.scale is not None  # nosec B101  # narrows the type for mypy
            return Col(
                col.cast(dec(agg.scale)).fill_null(ibis.literal(Decimal(0), type=dec(agg.scale))), agg.scale
            )
        if node.func == "any":
            return Col(col.fill_null(False))
        if node.func == "all":
            return Col(col.fill_null(True))
        return Col(col.cast(dec(agg.scale)) if agg.scale is not None else col, agg.scale)

    # -- expressions ----------------------------------------------------------------------------------
    def compile_expr(self, programme: Programme, expr: Expression) -> Col:
        self.programme = programme
        return self.compile(expr.node, expr)

    def compile(self, node: ast.Node, expr: Expression | None = None) -> Col:
        programme = self.programme
        assert programme is not None  # nosec B101  # narrows the type for mypy
        checked = self._checked(node)
        t = checked.types[node]
        if node not in checked.firm_dependent and t.kind is not Kind.LIST:
            return literal(self.fold(programme, node), t)
        match node:
            case ast.Name(id=name):
                if name in programme.values:
                    return self.value(programme, name)
                raise EvaluationError(f"cannot compile name {name}")  # pragma: no cover
            case ast.Attr() | ast.Index():
                return self.read(node, t)
            case ast.Neg(operand=o):
                c = self.compile(o)
                return Col((-c.expr).cast(dec(c.scale or 0)), c.scale)
            case ast.Not(operand=o):
                return Col(~self.compile(o).expr)
            case ast.BoolOp(op=op, values=vs):
                cols = [self.compile(v).expr for v in vs]
                out = cols[0]
                for c in cols[1:]:
                    out = (out & c) if op == "and" else (out | c)
                return Col(out)
            case ast.BinOp(op=op, left=a, right=b):
                return self.binop(op, a, b)
            case ast.Compare(op=op, left=a, right=b):
                return self.compare(op, a, b)
            case ast.IfExp(cond=c, then=th, orelse=el):
                cond = self.compile(c).expr
                x, y = self.compile(th), self.compile(el)
                if t == NUM:
                    s = max(x.scale or 0, y.scale or 0)
                    return Col(ibis.ifelse(cond, rescale(x, s), rescale(y, s)), s)
                return Col(ibis.ifelse(cond, x.expr, y.expr))
            case ast.Call(func=func, args=args):
                return self.call(func, args, t)
            case ast.Comprehension():
                return self.aggregate_column(node)
        raise EvaluationError(f"cannot compile {type(node).__name__}")  # pragma: no cover

    def _checked(self, node: ast.Node) -> Any:
        assert self.programme is not None  # nosec B101  # narrows the type for mypy
        index = self._checked_of.get(self.programme.id)
        if index is None:
            index = self._checked_of[self.programme.id] = {
                n: e.checked for e in self.programme.expressions() for n in e.checked.types
            }
        return index[node]

    def column(self, key: tuple[str, ...]) -> Col | None:
        found = self.materialized.get(key)
        return None if found is None else Col(self.base[found[0]], found[1])

    def value(self, programme: Programme, name: str) -> Col:
        found = self.column(("value", programme.id, name))
        if found is not None:
            return found
        key = (programme.id, name)
        if key not in self.value_cache:
            saved = self.programme
            self.value_cache[key] = self.compile_expr(programme, programme.values[name])
            self.programme = saved
        return self.value_cache[key]

    def read(self, node: ast.Node, t: Type) -> Col:
        """A field of the firm (a column of the firms table) or of the loop item (of the child table)."""
        year = None
        if isinstance(node, ast.Index):
            year_value = self.fold(self.programme, node.index)  # type: ignore[arg-type]
            year = int(year_value) if year_value is not None and year_value == int(year_value) else None
            node = node.obj
        parts: list[str] = []
        while isinstance(node, ast.Attr):
            parts.append(node.name)
            node = node.obj
        parts.reverse()
        assert isinstance(node, ast.Name)  # nosec B101  # narrows the type for mypy
        if self.local is not None and node.id == self.local[0]:
            table = self.local[1]
            column = parts[0]
        else:
            table = self.base
            record = self.records["firm"]
            column = ""
            for p in parts:
                f = record.fields[p]
                column = f.column
                if f.type.kind is Kind.RECORD and f.type.record:
                    record = self.records[f.type.record]
        if year is not None:
            column = f"{column}_{year}"
            if column not in table.columns:
                return literal(None, NUM)
        elif isinstance(node, ast.Name) and t.kind is Kind.YEARMAP:  # pragma: no cover
            raise EvaluationError("a year map must be indexed")
        col = table[column]
        if t == NUM:
            if col.type().is_integer():
                return Col(col.cast(dec(0)), 0)
            # widened to DECIMAL(38) as read: reading DECIMAL(18, 2) as stored saved 3 % of the engine's
            # CPU but let ibis meet DECIMAL(18, 2) * DECIMAL(38, 1), whose common type it cannot work out
            scale = col.type().scale if col.type().is_decimal() else MONEY_SCALE
            return Col(col.cast(dec(scale)), scale)
        return Col(col)

    def binop(self, op: str, a: ast.Node, b: ast.Node) -> Col:
        if self._is_duration(a) or self._is_duration(b):  # a date shifted by a constant duration
            date_node, dur_node = (b, a) if self._is_duration(a) else (a, b)
            duration = self.fold(self.programme, dur_node)  # type: ignore[arg-type]
            assert isinstance(duration, Duration)  # nosec B101  # narrows the type for mypy
            sign = -1 if op == "-" else 1
            out = self.compile(date_node).expr
            if duration.years or duration.months:
                out = out + ibis.interval(months=sign * (duration.years * 12 + duration.months))
            if duration.days:
                out = out + ibis.interval(days=sign * duration.days)
            return Col(out.cast("date"))
        x, y = self.compile(a), self.compile(b)
        assert x.scale is not None and y.scale is not None  # nosec B101  # narrows the type for mypy
        if op == "*":
            s = x.scale + y.scale
            product = x.expr * y.expr
            if s > PRODUCT_SCALE:
                return Col(product.cast(dec(s)).round(PRODUCT_SCALE).cast(dec(PRODUCT_SCALE)), PRODUCT_SCALE)
            return Col(product.cast(dec(s)), s)
        s = max(x.scale, y.scale)
        out = rescale(x, s) + rescale(y, s) if op == "+" else rescale(x, s) - rescale(y, s)
        return Col(out.cast(dec(s)), s)

    def _is_duration(self, node: ast.Node) -> bool:
        return self._checked(node).types[node].kind is Kind.DUR

    def compare(self, op: str, a: ast.Node, b: ast.Node) -> Col:
        x = self.compile(a)
        if op in ("in", "not in"):
            values = list(self.fold(self.programme, b))  # type: ignore[arg-type]
            if 0 < len(values) <= SHORT_LIST and None not in values:
                # ``x = a OR x = b ...`` (the same three-valued result as IN): DuckDB plans an IN list of
                # more than a few constants as a join over every row, even inside a CASE branch that only a
                # few rows reach; equalities are evaluated where the CASE gets to them
                result = x.expr == values[0]
                for v in values[1:]:
                    result |= x.expr == v
            else:
                result = x.expr.isin(values)
            return Col(result if op == "in" else ~result)
        y = self.compile(b)
        if x.scale is not None and y.scale is not None:
            s = max(x.scale, y.scale)
            left, right = rescale(x, s), rescale(y, s)
        else:
            left, right = x.expr, y.expr
        ops = {
            "<": left.__lt__,
            "<=": left.__le__,
            ">": left.__gt__,
            ">=": left.__ge__,
            "==": left.__eq__,
            "!=": left.__ne__,
        }
        return Col(ops[op](right))

    def call(self, func: str, args: tuple[ast.Node, ...], t: Type) -> Col:
        if func == "eligible":
            return Col(self.eligible(args[0].value))  # type: ignore[attr-defined]
        if func == "amount":
            return self.amount(args[0].value)  # type: ignore[attr-defined]
        cols = [self.compile(a) for a in args]
        if func == "default":
            x, y = cols
            if t == NUM:
                s = max(x.scale or 0, y.scale or 0)
                return Col(ibis.coalesce(rescale(x, s), rescale(y, s)), s)
            return Col(ibis.coalesce(x.expr, y.expr))
        if func == "is_known":
            return Col(cols[0].expr.notnull())
        if func == "year":
            return Col(cols[0].expr.year().cast(dec(0)), 0)
        if func in ("min", "max", "clamp"):
            if func == "clamp":
                inner = self._extreme("max", cols[:2], t)
                return self._extreme("min", [inner, cols[2]], t)
            return self._extreme(func, cols, t)
        raise EvaluationError(f"cannot compile {func}()")  # pragma: no cover

    def _extreme(self, func: str, cols: list[Col], t: Type) -> Col:
        """min/max that is unknown when any argument is (unlike SQL's LEAST/GREATEST, which skip NULLs)."""
        scale = max(c.scale or 0 for c in cols) if t == NUM else None
        exprs = [rescale(c, scale) if scale is not None else c.expr for c in cols]
        any_null = exprs[0].isnull()
        for e in exprs[1:]:
            any_null = any_null | e.isnull()
        pick = ibis.least(*exprs) if func == "min" else ibis.greatest(*exprs)
        typ = dec(scale) if scale is not None else exprs[0].type()
        return Col(ibis.ifelse(any_null, ibis.null().cast(typ), pick), scale)

    # -- programmes -----------------------------------------------------------------------------------
    def test(self, programme: Programme, kind: str, tid: str) -> ir.BooleanValue:
        """A condition or exclusion as a column where it was materialized; unknown counts as false."""
        found = self.column((kind, programme.id, tid))
        if found is not None:
            return found.expr
        saved = self.programme
        exprs = programme.conditions if kind == "cond" else programme.exclusions
        out = known(self.compile_expr(programme, exprs[tid]).expr)
        self.programme = saved
        return out

    def condition_columns(
        self, programme: Programme
    ) -> tuple[list[tuple[str, ir.BooleanValue]], list[tuple[str, ir.BooleanValue]]]:
        conds = [(cid, self.test(programme, "cond", cid)) for cid in programme.conditions]
        excls = [(xid, self.test(programme, "excl", xid)) for xid in programme.exclusions]
        return conds, excls

    def in_force(self, programme: Programme) -> bool:
        eff = programme.spec.effective
        return eff.start <= self.on and (eff.end is None or self.on <= eff.end)

    def eligible(self, pid: str) -> ir.BooleanValue:
        found = self.column(("elig", pid))
        if found is not None:
            return found.expr
        first = self.column(("first-failed", pid))
        if first is not None:
            return first.expr == 0
        if pid not in self.eligible_cache and pid in self.derived:
            self.eligible_cache[pid] = self._derived_cases(self.programmes[pid], self.derived[pid])
        if pid not in self.eligible_cache and self.lazy:
            self.eligible_cache[pid] = self._eligible_cases(self.programmes[pid])
        if pid not in self.eligible_cache:
            programme = self.programmes[pid]
            conds, excls = self.condition_columns(programme)
            out: ir.BooleanValue = ibis.literal(self.in_force(programme))
            for _, c in conds:
                out = out & c
            for _, x in excls:
                out = out & ~x
            self.eligible_cache[pid] = out
        return self.eligible_cache[pid]

    def _cost(self, programme: Programme, e: Expression) -> int:
        """A rough cost, so cheap conditions are tested first; aggregates and references weigh more."""
        cost = 0
        for node in ast.walk(e.node):
            cost += 1
            if isinstance(node, ast.Comprehension):
                cost += 20
            elif isinstance(node, ast.Call) and node.func in ("eligible", "amount"):
                cost += 50
            elif isinstance(node, ast.Name) and node.id in programme.values:
                cost += self._cost(programme, programme.values[node.id])
        return cost

    def _chain(self, programme: Programme) -> list[tuple[str, str, Expression]]:
        """The tests in the order the eligibility CASE tries them: cheap first, then as written."""
        found = self._chains.get(programme.id)
        if found is None:
            tests = [("cond", cid, e) for cid, e in programme.conditions.items()]
            tests += [("excl", xid, e) for xid, e in programme.exclusions.items()]
            tests.sort(key=lambda t: self._cost(programme, t[2]))
            found = self._chains[programme.id] = tests
        return found

    def _fails(self, programme: Programme, kind: str, tid: str) -> ir.BooleanValue:
        c = self.test(programme, kind, tid)
        return (~c) if kind == "cond" else c

    def _eligible_cases(self, programme: Programme) -> ir.BooleanValue:
        """``CASE WHEN NOT c1 THEN FALSE WHEN NOT c2 ... ELSE TRUE``: engines evaluate each WHEN only on the
        rows still undecided, so most firms never reach the costly tests."""
        if not self.in_force(programme):
            return ibis.literal(False)
        branches = [(self._fails(programme, kind, tid), False) for kind, tid, _ in self._chain(programme)]
        return ibis.cases(*branches, else_=True)

    def _first_failed(self, programme: Programme) -> ir.IntegerValue:
        """The same CASE, giving the position (from 1) of the first failed test, 0 when all pass: as cheap as
        eligibility, and it tells a programme derived from this one which tests passed (those before it),
        which failed (that one) and which were never evaluated (those after it)."""
        if not self.in_force(programme):
            raise EvaluationError(f"{programme.id}: the first failed test of a programme not in force")
        branches = [
            (self._fails(programme, kind, tid), ibis.literal(i, type="int16"))
            for i, (kind, tid, _) in enumerate(self._chain(programme), start=1)
        ]
        return ibis.cases(*branches, else_=ibis.literal(0, type="int16"))

    def _derived_cases(self, programme: Programme, source_id: str) -> ir.BooleanValue:
        """Eligibility of a programme sharing test expressions with ``source_id``, from the source's first
        failed test and only the tests it does not share (a reform copy against its baseline):

        - the source failed a shared test: fails too, nothing evaluated (most firms);
        - otherwise the unshared tests are evaluated, and a shared test only where the source never got to
          it (it failed an unshared test before that one); shared tests before the source's failure passed.

        Exactly the programme's own eligibility: every WHEN fires only on a test that fails."""
        if not self.in_force(programme):
            return ibis.literal(False)
        first = self.column(("first-failed", source_id))
        if first is None:
            raise EvaluationError(f"{programme.id}: {source_id}'s first failed test was not materialised")
        ff = first.expr
        slots = self._shared_slots(programme, source_id)
        branches: list[tuple[ir.BooleanValue, bool]] = []
        if slots:
            # the source failed a shared test: ff > 0 and not one of its unshared positions (comparisons, not
            # IN, which DuckDB turns into a join with the list)
            failed_shared = ff > 0
            for position in sorted(
                set(range(1, len(self._chain(self.programmes[source_id])) + 1)) - set(slots.values())
            ):
                failed_shared &= ff != position
            branches.append((failed_shared, False))
        for kind, tid, _ in self._chain(programme):
            fail = self._fails(programme, kind, tid)
            slot = slots.get((kind, tid))
            if slot is not None:  # passed where the source failed later; not reached where it failed earlier
                fail = ibis.cases(((ff > 0) & (ff < slot), fail), else_=False)
            branches.append((fail, False))
        return ibis.cases(*branches, else_=True)

    def _shared_slots(self, programme: Programme, source_id: str) -> dict[tuple[str, str], int]:
        """The programme's tests that are the source's own expression objects and mean the same there (same
        parameters and same value objects, transitively): (kind, id) -> position in the source's chain."""
        source = self.programmes[source_id]
        position = {(kind, id(e)): i for i, (kind, _, e) in enumerate(self._chain(source), start=1)}
        out: dict[tuple[str, str], int] = {}
        for kind, tid, e in self._chain(programme):
            slot = position.get((kind, id(e)))
            if slot is not None and self._same_meaning(programme, source, e):
                out[(kind, tid)] = slot
        return out

    def _same_meaning(self, a: Programme, b: Programme, e: Expression) -> bool:
        seen: set[int] = set()

        def same(x: Expression) -> bool:
            if id(x) in seen:
                return True
            seen.add(id(x))
            c = x.checked
            if any(a.params.get(n) != b.params.get(n) for n in c.params):
                return False
            for v in c.values:
                va, vb = a.values.get(v), b.values.get(v)
                if va is None or va is not vb or not same(va):
                    return False
            return True

        return same(e)

    def plan_sharing(self, needed: list[str]) -> None:
        """Lazy only: a programme whose tests include an earlier one's expression objects (a reform copy and
        its baseline: ``huiqi.simulation.run`` hands the copy the baseline's objects wherever the reform
        changes nothing they read) reuses that programme's first failed test instead of testing again.
        ``needed`` is in dependency order, the order asked for otherwise: baselines before their copies."""
        if not self.lazy:
            return
        for i, pid in enumerate(needed):
            p = self.programmes[pid]
            if not self.in_force(p) or pid in self.sources:
                continue
            best, shared = None, 0
            for qid in needed[:i]:  # an earlier one: the baseline, not its reform copy
                q = self.programmes[qid]
                if qid == pid or qid in self.derived or not self.in_force(q) or pid in self._reads_of(qid):
                    continue
                n = len(self._shared_slots(p, qid))
                if n > shared:
                    best, shared = qid, n
            if best is not None:
                self.derived[pid] = best
                self.sources.add(best)

    def _reads_of(self, pid: str) -> set[str]:
        """Every programme ``pid`` refers to, transitively."""
        out: set[str] = set()
        todo = [pid]
        while todo:
            for dep in self.programmes[todo.pop()].depends_on:
                if dep not in out:
                    out.add(dep)
                    todo.append(dep)
        return out

    def amount(self, pid: str) -> Col:
        found = self.column(("amount", pid))
        if found is not None:
            return found
        if pid not in self.amount_cache:
            programme = self.programmes[pid]
            zero = ibis.literal(Decimal("0.00"), type=dec(MONEY_SCALE))
            if programme.amount is None:
                self.amount_cache[pid] = Col(zero, MONEY_SCALE)
            else:
                saved = self.programme
                raw = self.compile_expr(programme, programme.amount)
                self.programme = saved
                rounded = (
                    raw.expr.round(MONEY_SCALE).cast(dec(MONEY_SCALE))
                    if (raw.scale or 0) > MONEY_SCALE
                    else rescale(raw, MONEY_SCALE)
                )
                value = ibis.ifelse(self.eligible(pid), rounded.fill_null(zero), zero)
                self.amount_cache[pid] = Col(value, MONEY_SCALE)
        return self.amount_cache[pid]

    # -- layers: every item once, as a column, after the items it reads -------------------------------
    def _items(self, ids: list[str]) -> dict[tuple[str, ...], set[tuple[str, ...]]]:
        needed = self.needed(ids)
        items: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
        for pid in needed:
            p = self.programmes[pid]

            inline = set() if self.lazy else self._amount_only(p)

            def deps(e: Expression, p: Programme = p, inline: set[str] = inline) -> set[tuple[str, ...]]:
                out: set[tuple[str, ...]] = set()
                for v in e.checked.values:
                    ve = p.values[v]
                    if v in inline:  # compiled into the amount: what it reads comes first
                        out |= deps(ve)
                    elif ve.node in ve.checked.firm_dependent:
                        out.add(("value", p.id, v))
                for q in e.checked.programmes:
                    out |= {("elig", q), ("amount", q)}
                return out

            if self.lazy:
                # values and tests stay inline in the eligibility CASE, computed only where it gets that far
                tests = [*p.conditions.values(), *p.exclusions.values()]
                reads: set[tuple[str, ...]] = set()
                for e in tests + [p.values[v] for v in p.value_order]:
                    reads |= {d for d in deps(e) if d[0] != "value"}
                amount_reads = {d for d in deps(p.amount) if d[0] != "value"} if p.amount else set()
                if pid in self.derived:
                    reads.add(("first-failed", self.derived[pid]))
                items[("elig", pid)] = reads
                if pid in self.sources:
                    items[("first-failed", pid)] = reads
                    items[("elig", pid)] = {("first-failed", pid)}
                items[("amount", pid)] = {("elig", pid)} | reads | amount_reads
                continue
            for name in p.value_order:
                e = p.values[name]
                if e.node in e.checked.firm_dependent and name not in inline:
                    items[("value", pid, name)] = deps(e)
            for cid, e in p.conditions.items():
                items[("cond", pid, cid)] = deps(e)
            for xid, e in p.exclusions.items():
                items[("excl", pid, xid)] = deps(e)
            items[("elig", pid)] = {("cond", pid, c) for c in p.conditions} | {
                ("excl", pid, x) for x in p.exclusions
            }
            items[("amount", pid)] = ({("elig", pid)} | deps(p.amount)) if p.amount else {("elig", pid)}
        return items

    def _amount_only(self, programme: Programme) -> set[str]:
        """The values only the amount reads (directly or through such values): left inside the amount's
        ``CASE WHEN eligible``, they are computed for the eligible firms alone, where a column of them was
        computed for every firm (a cap's remainder, a rate by size: most of the work of a pack's values).
        The values the tests read are columns, as every test is computed for every firm."""
        tested: set[str] = set()
        todo = [
            v
            for e in (*programme.conditions.values(), *programme.exclusions.values())
            for v in e.checked.values
        ]
        while todo:
            v = todo.pop()
            if v not in tested:
                tested.add(v)
                todo.extend(programme.values[v].checked.values)
        return set(programme.values) - tested

    def materialize(self, ids: list[str], *, firm_only: bool = False) -> None:
        """Every item as a column, layer after layer. ``firm_only``: only the items reading nothing but the
        firm's own fields, computed before the child tables are joined: the joins then carry their results
        (mostly booleans) instead of the fields they read (names, sectors, amounts)."""
        pending = {k: d for k, d in self._items(ids).items() if k not in self.materialized}
        while pending:
            ready = [
                k
                for k, d in pending.items()
                if all(x in self.materialized for x in d) and (not firm_only or self._reads_firm_only(k))
            ]
            if not ready and firm_only:
                return
            if not ready:  # pragma: no cover - the loader refuses cycles
                raise EvaluationError("programmes refer to each other in a cycle")
            columns: dict[str, ir.Value] = {}
            # an item equal to another of its layer (programmes testing the same city, the same date) is
            # that item's column: the engine computes it once for every firm, ibis writes it once
            same: dict[tuple[Any, int | None], str] = {}
            found: list[tuple[str, int | None]] = []
            for i, key in enumerate(ready):
                col = self._compile_item(key)
                name = same.setdefault((col.expr.op(), col.scale), f"_{key[0]}{len(self.materialized) + i}")
                columns.setdefault(name, col.expr)
                found.append((name, col.scale))
            self.base = self.base.mutate(**columns)
            for key, column in zip(ready, found, strict=True):
                self.materialized[key] = column
                del pending[key]

    def _reads_firm_only(self, key: tuple[str, ...]) -> bool:
        """Whether an item (a value or test) reads no list of the firm and no programme: its values are
        items of their own, which come first."""
        if key[0] not in ("value", "cond", "excl"):
            return False
        p = self.programmes[key[1]]
        e = (
            p.values[key[2]]
            if key[0] == "value"
            else (p.conditions if key[0] == "cond" else p.exclusions)[key[2]]
        )
        return not e.checked.programmes and not any(
            isinstance(n, ast.Comprehension) for n in ast.walk(e.node)
        )

    def _compile_item(self, key: tuple[str, ...]) -> Col:
        kind, pid = key[0], key[1]
        p = self.programmes[pid]
        saved = self.programme
        try:
            if kind == "value":
                return self.compile_expr(p, p.values[key[2]])
            if kind in ("cond", "excl"):
                return Col(self.test(p, kind, key[2]))
            if kind == "first-failed":
                return Col(self._first_failed(p), 0)
            if kind == "elig":
                return Col(self.eligible(pid))
            return self.amount(pid)
        finally:
            self.programme = saved

    # -- necessary tests: which firms can be eligible at all ---------------------------------------------
    def formula(self, f: Formula) -> ir.BooleanValue:
        """A ``necessary`` formula over the firms table, as CASE chains tried cheap first (an engine
        evaluates each WHEN only on the rows still undecided). Equal parts of a disjunction or conjunction
        (a reform copy's tests and its baseline's) compile to equal Ibis nodes and are kept once."""
        match f:
            case AllOf(parts=parts) | AnyOf(parts=parts):
                decide = isinstance(f, AnyOf)  # the value a part decides the whole with
                compiled: dict[Any, ir.BooleanValue] = {}
                for x in sorted(parts, key=self._formula_cost):
                    c = self.formula(x)
                    compiled.setdefault(c.op(), c)
                branches = [(c if decide else ~c, decide) for c in compiled.values()]
                if not branches:
                    return ibis.literal(not decide)
                return ibis.cases(*branches, else_=not decide)
            case FirmTest(programme=p, node=node, negate=negate):
                self.programme = p
                test = known(self.compile(node).expr)
                return ~test if negate else test
            case Exists(table=name, aggregates=aggregates):
                child = self.tables[name]
                counted: list[ir.BooleanValue] = []
                for p, agg in aggregates:
                    nodes = [agg.cond] if agg.cond is not None else []
                    if agg.func == "any":
                        nodes.append(agg.element)
                    if not nodes:  # every item counts
                        counted = []
                        break
                    self.programme, self.local = p, (agg.var, child)
                    try:
                        tests = [known(self.compile(x).expr) for x in nodes]
                    finally:
                        self.local = None
                    counted.append(functools.reduce(operator.and_, tests))
                rows = child.filter(functools.reduce(operator.or_, counted)) if counted else child
                return self.base.uscc.isin(rows.uscc)
        raise EvaluationError(f"cannot compile {f!r}")  # pragma: no cover

    def _formula_cost(self, f: Formula) -> int:
        if isinstance(f, FirmTest):
            return sum(
                self._cost(f.programme, e) for e in f.programme.expressions() if e.node is f.node
            ) or len(ast.walk(f.node))
        if isinstance(f, Exists):
            return 1_000
        return sum(self._formula_cost(x) for x in f.parts)

    def unmet(self, programme: Programme) -> ir.StringValue:
        """The failed tests' ids, comma-separated. Where the engine indexes arrays (``lookup``), picked out of
        a constant array of every combination by the failed tests' bits (``unmet_bits``): cheaper than
        building the string row by row, the largest single cost of a run with unmet lists. Elsewhere
        ``CONCAT_WS(',', ...)`` over NULL-or-id items, which skips NULLs on DuckDB, PostgreSQL and Spark."""
        bits = self.unmet_bits(programme)
        if bits is not None:
            lists = unmet_lists(self._unmet_prefix(programme), self._test_ids(programme))
            return ibis.literal(lists, type="array<string>")[bits]
        conds, excls = self.condition_columns(programme)
        none = ibis.null().cast("string")
        parts: list[ir.StringValue] = [ibis.literal(p) for p in self._unmet_prefix(programme)]
        parts += [ibis.ifelse(c, none, ibis.literal(cid)) for cid, c in conds]
        parts += [ibis.ifelse(x, ibis.literal(xid), none) for xid, x in excls]
        if not parts:
            return ibis.literal("")
        return ibis.literal(",").join(parts)

    def unmet_bits(self, programme: Programme) -> ir.IntegerValue | None:
        """Where the engine looks unmet lists up (``lookup``, up to ``UNMET_BITS`` tests): the failed tests as
        bits of one integer, test i (conditions, then exclusions, as written) bit i."""
        if not self.lookup or not 0 < len(self._test_ids(programme)) <= UNMET_BITS:
            return None
        conds, excls = self.condition_columns(programme)
        bits = [ibis.cases((c, 0), else_=1 << i) for i, (_, c) in enumerate(conds)]
        bits += [ibis.cases((x, 1 << i), else_=0) for i, (_, x) in enumerate(excls, start=len(conds))]
        return functools.reduce(operator.add, bits)

    def _unmet_prefix(self, programme: Programme) -> list[str]:
        return [] if self.in_force(programme) else ["in-force"]

    @staticmethod
    def _test_ids(programme: Programme) -> list[str]:
        return [*programme.conditions, *programme.exclusions]


def _year_of(column: str, prefixes: set[str]) -> bool:
    """Whether ``column`` is a year of one of the year maps ``prefixes`` (``sales_2024`` of ``sales``)."""
    return any(column.startswith(p + "_") and column[len(p) + 1 :].isdigit() for p in prefixes)


def register_reads(
    programmes: Mapping[str, Programme], ids: Iterable[str], columns: Iterable[str]
) -> tuple[set[str], set[str]]:
    """What of the register the programmes ``ids`` and those they refer to read: the columns of the firms
    table (of ``columns``; ``uscc`` always; every year of a year map) and the child tables."""
    records = firm_records()
    columns = set(columns)
    firm_columns, tables = {"uscc"}, set()
    needed, todo = set(ids), list(ids)
    while todo:
        for dep in programmes[todo.pop()].depends_on - needed:
            needed.add(dep)
            todo.append(dep)
    for pid in needed:
        for e in programmes[pid].expressions():
            for node in ast.walk(e.node):
                if isinstance(node, ast.Comprehension):
                    tables.add(node.collection.name)  # type: ignore[attr-defined]
                elif isinstance(node, ast.Attr) and isinstance(node.obj, ast.Name) and node.obj.id == "firm":
                    field_ = records["firm"].fields.get(node.name)
                    if field_ is None or field_.type.kind is Kind.COLLECTION:
                        continue
                    if field_.type.kind is Kind.RECORD and field_.type.record:
                        prefix = field_.column + "_"
                        firm_columns |= {c for c in columns if c.startswith(prefix)}
                    elif field_.type.kind is Kind.YEARMAP:
                        prefix = field_.column + "_"
                        firm_columns |= {
                            c for c in columns if c.startswith(prefix) and c[len(prefix) :].isdigit()
                        }
                    elif field_.column in columns:
                        firm_columns.add(field_.column)
    return firm_columns, tables


def unmet_lists(prefix: list[str], ids: list[str]) -> list[str]:
    """Every unmet list a programme's tests can give, at the position whose bits are its failed tests."""
    return [",".join(prefix + [t for bit, t in enumerate(ids) if m >> bit & 1]) for m in range(1 << len(ids))]


def indexes_arrays(table: ir.Table) -> bool:
    """Whether the table's engine indexes a constant array by a computed position as the compiler needs:
    DuckDB does; ibis 12 gives PostgreSQL an index one too far, and Spark is left with string building."""
    try:
        return bool(table._find_backend().name == "duckdb")
    except IbisError:  # an unbound table: no engine to ask
        return False


@gc_paused
def compile_pack(
    programmes: Mapping[str, Programme],
    tables: Mapping[str, ir.Table],
    on: dt.date,
    ids: list[str] | None = None,
    *,
    with_unmet: bool = True,
    keep: tuple[str, ...] = (),
) -> CompiledPack:
    """One Ibis table: ``uscc``, the firms-table columns in ``keep`` and, per programme, ``<n>_eligible``,
    ``<n>_amount`` (and ``<n>_unmet``)."""
    chosen = ids if ids is not None else sorted(programmes)
    compiler = _Compiler(programmes, on, tables, lazy=not with_unmet, lookup=indexes_arrays(tables["firms"]))
    compiler.narrow(compiler.needed(chosen), keep)
    compiler.plan_sharing(compiler.needed(chosen))
    compiler.materialize(chosen, firm_only=True)
    compiler.collect_aggregates(compiler.needed(chosen))
    compiler.materialize(chosen)
    columns: dict[str, ir.Value] = {"uscc": compiler.base.uscc}
    columns.update({name: compiler.base[name] for name in keep})
    names: dict[str, tuple[str, str, str]] = {}
    values: dict[str, list[str]] = {}
    coded: dict[str, ir.Value] = {}
    for i, pid in enumerate(chosen):
        programme = programmes[pid]
        e, a, u = f"p{i}_eligible", f"p{i}_amount", f"p{i}_unmet"
        columns[e] = compiler.eligible(pid)
        columns[a] = compiler.amount(pid).expr.cast(AMOUNT)
        if with_unmet:
            columns[u] = compiler.unmet(programme)
            bits = compiler.unmet_bits(programme)
            if bits is not None:
                coded[u] = bits
            tests = compiler._test_ids(programme)
            if len(tests) <= UNMET_BITS:
                values[u] = unmet_lists(compiler._unmet_prefix(programme), tests)
        names[pid] = (e, a, u)
    table = compiler.base.select(**columns)
    as_bits = compiler.base.select(**{**columns, **coded}) if coded else None
    return CompiledPack(table, chosen, names, dict(compiler.derived), values, as_bits)


def candidates(
    programmes: Mapping[str, Programme], tables: Mapping[str, ir.Table], on: dt.date, ids: list[str]
) -> ir.Table | None:
    """The firms table cut to the firms that can be eligible for one of ``ids``, as far as the programmes'
    necessary tests tell (``rules.necessary``): the firms left out are eligible for none of them. None when
    nothing is known of one programme's needs (every firm can be).

    Two filters, one on the other: the tests of the firm's own fields (cheap on every row), then the
    semi-joins with its lists on the rows left. Run it without the engine pushing the second filter into
    the first, or the semi-joins are made for every firm of the register."""
    needs = Necessary(programmes, on)
    formulas = [needs.of(pid) for pid in ids]
    known = [f for f in formulas if f is not None]
    if len(known) < len(formulas):
        return None
    firms = tables["firms"]
    for part in split(AnyOf(tuple(known))):
        if part is not None:
            firms = firms.filter(
                _Compiler(programmes, on, {**tables, "firms": firms}, lazy=True).formula(part)
            )
    return firms
