"""Charts for the officer's and the auditor's pages as server-side SVG (no JavaScript, no plotting library):
the data come from ``huiqi.app`` (the ledger) and the rules engine, the drawing is a few rectangles and a
polyline."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from html import escape
from typing import Any

from huiqi.money import format_yuan
from huiqi.rules.programme import Programme

PALETTE = ("#2f6fb0", "#d9822b", "#3c9a5f", "#a4508b", "#7a7a7a")


def _short(amount: Decimal) -> str:
    """Axis labels: 1.2亿 / 350万 in Chinese, 120M / 3.5M in English."""
    from huiqi.web.i18n import language

    v = float(amount)  # display only: a label, never a stored amount
    if language() == "zh":
        if abs(v) >= 1e8:
            return f"{v / 1e8:.1f}亿"
        if abs(v) >= 1e4:
            return f"{v / 1e4:.0f}万"
        return f"{v:.0f}"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.1f}M"
    if abs(v) >= 1e3:
        return f"{v / 1e3:.0f}k"
    return f"{v:.0f}"


def _clip(label: str, most: int = 28) -> str:
    """A label cut to fit the label column, marked as cut (the full label is in the bar's tooltip)."""
    return label if len(label) <= most else label[: most - 1] + "…"


def bar_chart(
    title: str, rows: Sequence[tuple[str, Sequence[Decimal]]], series: Sequence[str], width: int = 640
) -> str:
    """Horizontal bars, one group per row, one bar per series; the exact amount is in each bar's tooltip."""
    bar_h, gap, label_w = 14, 10, 180
    n = max(1, len(series))
    height = 40 + len(rows) * (n * bar_h + gap) + 24
    top = max((v for _, vals in rows for v in vals), default=Decimal(0)) or Decimal(1)
    plot_w = width - label_w - 90
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="16" class="chart-title">{escape(title)}</text>',
    ]
    y = 32
    for label, vals in rows:
        out.append(
            f'<text x="{label_w - 6}" y="{y + n * bar_h / 2 + 4:.0f}" text-anchor="end">'
            f"{escape(_clip(label))}</text>"
        )
        for i, v in enumerate(vals):
            w = int(plot_w * (v / top)) if top else 0
            name = series[i] if i < len(series) else ""
            out.append(
                f'<rect x="{label_w}" y="{y + i * bar_h}" width="{max(w, 1)}" height="{bar_h - 2}" '
                f'fill="{PALETTE[i % 5]}"><title>{escape(label)} · {escape(name)}: '
                f"{escape(format_yuan(v))}</title></rect>"
                f'<text x="{label_w + max(w, 1) + 4}" y="{y + i * bar_h + bar_h - 4}" class="v">'
                f"{_short(v)}</text>"
            )
        y += n * bar_h + gap
    if len(series) > 1:
        x = label_w
        for i, name in enumerate(series):
            out.append(
                f'<rect x="{x}" y="{height - 14}" width="10" height="10" fill="{PALETTE[i % 5]}"/>'
                f'<text x="{x + 14}" y="{height - 5}">{escape(name)}</text>'
            )
            x += 14 + 8 * len(name) + 20
    if not rows:  # nothing yet: a dash readable at any width, not a blank box
        out.append(f'<text x="{width / 2:.0f}" y="{height - 4}" text-anchor="middle" font-size="32">—</text>')
    out.append("</svg>")
    return "".join(out)


def line_chart(
    title: str,
    points: Sequence[tuple[dt.datetime, Decimal]],
    ceiling: Decimal,
    width: int = 640,
    period: tuple[dt.date, dt.date] | None = None,
) -> str:
    """A pool's burn-down: what is still available, step by step from funding to now, drawn over the pool's
    ``period`` when given (so that a pool spent in a day shows as a cliff, not as the whole width)."""
    height, left, bottom = 200, 70, 24
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="14" class="chart-title">{escape(title)}</text>',
    ]
    top = ceiling or Decimal(1)
    plot_w, plot_h = width - left - 10, height - 30 - bottom
    out.append(
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#999"/>'
    )
    for frac in (Decimal(0), Decimal("0.5"), Decimal(1)):
        yy = height - bottom - int(plot_h * frac)
        out.append(
            f'<text x="{left - 4}" y="{yy + 4}" text-anchor="end">{_short(top * frac)}</text>'
            f'<line x1="{left}" y1="{yy}" x2="{width - 10}" y2="{yy}" stroke="#eee"/>'
        )
    if points:
        t0, t1 = points[0][0], points[-1][0]
        if period is not None:
            t0 = min(t0, dt.datetime.combine(period[0], dt.time(), t0.tzinfo))
            t1 = max(t1, dt.datetime.combine(period[1] + dt.timedelta(days=1), dt.time(), t1.tzinfo))
        span = max((t1 - t0).total_seconds(), 1.0)
        coords = []
        prev_y = None
        if period is not None:  # what is available now holds until today (or the period's end)
            points = [*points, (max(points[-1][0], min(dt.datetime.now(t1.tzinfo), t1)), points[-1][1])]
        for at, value in points:
            x = left + plot_w * (at - t0).total_seconds() / span
            yv = height - bottom - float(plot_h * (value / top))
            if prev_y is not None:
                coords.append(f"{x:.1f},{prev_y:.1f}")
            coords.append(f"{x:.1f},{yv:.1f}")
            prev_y = yv
        out.append(
            f'<polyline fill="none" stroke="{PALETTE[0]}" stroke-width="2" points="{" ".join(coords)}"/>'
        )
        last_x, last_y = coords[-1].split(",")
        out.append(f'<circle cx="{last_x}" cy="{last_y}" r="3" fill="{PALETTE[0]}"/>')  # now, even on day one
        end = period[1] if period is not None else t1.date()
        out.append(
            f'<text x="{left}" y="{height - 6}">{t0.date()}</text>'
            f'<text x="{width - 10}" y="{height - 6}" text-anchor="end">{end}</text>'
        )
    out.append("</svg>")
    return "".join(out)


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
