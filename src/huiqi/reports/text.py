"""Terminal tables of a simulation: exact yuan, aligned, no colour codes (they end up in logs)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from huiqi.money import format_yuan

if TYPE_CHECKING:
    from huiqi.simulation.run import GroupRow, Simulation


def _m(v: Decimal, signed: bool = False) -> str:
    text = format_yuan(v, unit=False)
    return ("+" + text) if signed and v > 0 else text


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    out = [
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    ]
    out.append("  ".join("-" * w for w in widths))
    for r in rows:
        out.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    return out


def _groups(title: str, rows: list[GroupRow], limit: int) -> list[str]:
    body = [
        [r.key, f"{r.firms_changed:,}", _m(r.cost_before), _m(r.cost_after), _m(r.change, True)]
        for r in rows[:limit]
    ]
    out = ["", title, *_table(["", "firms changed", "baseline", "reform", "change"], body)]
    if len(rows) > limit:
        out.append(f"({len(rows) - limit} more in --format json)")
    return out


def render_simulation(sim: Simulation, *, limit: int = 12) -> str:
    r = sim.reform
    lines = [
        f"Reform {r['id']}: {r['title']['en']} / {r['title']['zh']}",
        f"  over {sim.firms:,} firms on {sim.on}; changed: {', '.join(sim.touched)}",
        f"  recomputed (with dependants): {', '.join(sim.affected)}",
        *[f"  - {c}" for c in r["changes"]],
        "",
        *_table(
            ["", "baseline", "reform", "change"],
            [["total cost (yuan)", _m(sim.cost_before), _m(sim.cost_after), _m(sim.change, True)]],
        ),
        f"gainers: {sim.gainers:,} firms, +{_m(sim.gained)}; losers: {sim.losers:,} firms, -{_m(sim.lost)}",
        "",
        "By programme",
        *_table(
            ["programme", "eligible before", "after", "+new/-lost", "baseline", "reform", "change"],
            [
                [
                    p.programme + ("" if p.programme in sim.affected else " (pool mate)"),
                    f"{p.eligible_before:,}",
                    f"{p.eligible_after:,}",
                    f"+{p.newly_eligible:,}/-{p.no_longer_eligible:,}",
                    _m(p.cost_before),
                    _m(p.cost_after),
                    _m(p.change, True),
                ]
                for p in sim.programmes
            ],
        ),
        *_groups("By sector", sim.by_sector, limit),
        *_groups("By district", sim.by_district, limit),
        *_groups("By size band (employees)", sim.by_size, limit),
    ]
    if sim.pools:
        lines += [
            "",
            "Pool sufficiency (demand arrives evenly over 12 months from the start month; all claim)",
            *_table(
                ["pool", "size", "demand before", "demand after", "start", "runs out before", "after"],
                [
                    [
                        p.pool,
                        _m(p.size_after),
                        _m(p.demand_before),
                        _m(p.demand_after),
                        p.start_month,
                        p.runs_out_before or "suffices",
                        p.runs_out_after or "suffices",
                    ]
                    for p in sim.pools
                ],
            ),
        ]
    if sim.top_gainers:
        lines += ["", "Largest gains", *[f"  {u}  +{_m(a)}" for u, a in sim.top_gainers]]
    if sim.top_losers:
        lines += ["", "Largest losses", *[f"  {u}  {_m(a)}" for u, a in sim.top_losers]]
    secs = ", ".join(f"{k} {v:.2f} s" for k, v in sim.seconds.items())
    lines += ["", f"timing: {secs}"]
    return "\n".join(lines)
