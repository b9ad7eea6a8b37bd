"""The data of the officer's and the auditor's charts (demand against pools, what the register could claim)
and the page's language for them; the drawing is ``huiqi.reports.charts``, the one chart module of pages
and reports."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from huiqi.reports import charts as drawing
from huiqi.rules.programme import Programme
from huiqi.web.i18n import language


def bar_chart(
    title: str, rows: Sequence[tuple[str, Sequence[Decimal]]], series: Sequence[str], width: int = 640
) -> str:
    """Horizontal bars in the page's language (``huiqi.reports.charts.bar_chart``)."""
    return drawing.bar_chart(title, rows, series, width, lang=language())


def line_chart(
    title: str,
    points: Sequence[tuple[dt.datetime, Decimal]],
    ceiling: Decimal,
    width: int = 640,
    period: tuple[dt.date, dt.date] | None = None,
) -> str:
    """A pool's burn-down over its period, in the page's language (``huiqi.reports.charts.line_chart``)."""
    return drawing.line_chart(title, points, ceiling, width, period, lang=language())


def demand_vs_pools(
    programmes: Mapping[str, Programme],
    demand: Mapping[str, Decimal],
    pools: Mapping[str, Decimal],
    lang: str,
) -> list[tuple[str, Sequence[Decimal]]]:
    rows: list[tuple[str, Sequence[Decimal]]] = []
    for pid, p in sorted(programmes.items()):
        if p.spec.pool is None:
            continue
        size = pools.get(p.spec.pool.id, Decimal(str(p.spec.pool.size)))
        rows.append((p.spec.name.get(lang), (demand.get(pid, Decimal(0)), size)))
    return rows


def matched_demand(
    programmes: Mapping[str, Programme], firms: Any, on: dt.date
) -> tuple[dict[str, Decimal], int]:
    """What every eligible firm could claim, by programme: the rules engine over the register (DuckDB) when
    one is configured, else over the profiles stored with the commission (scalar evaluator)."""
    from huiqi.rules.evaluator import evaluate

    demand: dict[str, Decimal] = defaultdict(Decimal)
    if isinstance(firms, dict):  # register tables
        import pyarrow.compute as pc

        from huiqi.rules.batch import evaluate_register

        long = evaluate_register(programmes, firms, on)
        eligible = long.filter(pc.equal(long["eligible"], True))
        for pid, amount in zip(
            eligible["programme"].to_pylist(), eligible["amount"].to_pylist(), strict=True
        ):
            demand[pid] += Decimal(amount or 0)
        return dict(demand), firms["firms"].num_rows
    count = 0
    for firm in firms:
        count += 1
        for r in evaluate(programmes, firm, on):
            if r.eligible:
                demand[r.programme.id] += r.amount
    return dict(demand), count
