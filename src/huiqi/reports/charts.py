"""Charts of simulations and city comparisons, as PNG and SVG (matplotlib, Agg backend, no display needed).

Money in the reports' tables is exact; a chart's bar lengths are floats of millions of yuan, which is all a
picture needs. SVG output is reproducible (fixed hash salt, no date), so a report does not change when rerun.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from huiqi.simulation.cities import CityComparison
    from huiqi.simulation.run import Simulation

plt.rcParams["svg.hashsalt"] = "huiqi"
plt.rcParams["font.size"] = 9
BLUE, ORANGE, GREY = "#4C72B0", "#DD8452", "#8C8C8C"
CATEGORY_COLOURS = {
    "compute": "#4C72B0",
    "model": "#55A868",
    "corpus": "#C44E52",
    "office": "#8172B2",
    "other": "#CCB974",
}


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    png: Path
    svg: Path

    def svg_text(self) -> str:
        """The SVG without its XML prologue, to inline in HTML."""
        text = self.svg.read_text(encoding="utf-8")
        return text[text.index("<svg") :]


def _m(v: Decimal) -> float:
    return float(v / Decimal(1_000_000))


def _save(fig: Figure, out: Path, name: str, title: str) -> Chart:
    out.mkdir(parents=True, exist_ok=True)
    png, svg = out / f"{name}.png", out / f"{name}.svg"
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    fig.savefig(svg, metadata={"Date": None})
    plt.close(fig)
    return Chart(name, title, png, svg)


def simulation_charts(sim: Simulation, out: Path) -> list[Chart]:
    """Cost per programme before and after; change by sector and by size band; pool demand by month."""
    charts = []
    progs = [p for p in sim.programmes if p.programme in sim.affected]
    fig, ax = plt.subplots(figsize=(7.5, 0.6 + 0.55 * max(len(progs), 1)))
    y = range(len(progs))
    ax.barh(
        [i + 0.2 for i in y], [_m(p.cost_before) for p in progs], height=0.4, color=GREY, label="baseline"
    )
    ax.barh([i - 0.2 for i in y], [_m(p.cost_after) for p in progs], height=0.4, color=BLUE, label="reform")
    ax.set_yticks(list(y), [p.programme for p in progs])
    ax.invert_yaxis()
    ax.set_xlabel("million yuan")
    ax.set_title("Cost by programme: baseline and reform")
    ax.legend(loc="lower right")
    charts.append(_save(fig, out, "programmes", "Cost by programme"))

    for name, rows, title in (
        ("sectors", sim.by_sector, "Change in cost by sector"),
        ("sizes", sim.by_size, "Change in cost by size band (employees)"),
    ):
        fig, ax = plt.subplots(figsize=(7.5, 0.6 + 0.35 * max(len(rows), 1)))
        values = [_m(r.change) for r in rows]
        ax.barh(range(len(rows)), values, color=[BLUE if v >= 0 else ORANGE for v in values])
        ax.set_yticks(range(len(rows)), [r.key for r in rows])
        ax.invert_yaxis()
        ax.axvline(0, color="black", linewidth=0.6)
        ax.set_xlabel("million yuan")
        ax.set_title(title)
        charts.append(_save(fig, out, name, title))

    if sim.pools:
        fig, ax = plt.subplots(figsize=(7.5, 3.6))
        months = list(range(0, 13))
        for i, pool in enumerate(sim.pools):
            colour = plt.get_cmap("tab10")(i)
            ax.plot(
                months,
                [_m(pool.demand_before) * k / 12 for k in months],
                color=colour,
                linestyle=":",
                label=f"{pool.pool} demand, baseline",
            )
            ax.plot(
                months,
                [_m(pool.demand_after) * k / 12 for k in months],
                color=colour,
                label=f"{pool.pool} demand, reform",
            )
            ax.axhline(_m(pool.size_after), color=colour, linestyle="--", linewidth=0.8)
        ax.set_xlabel(f"months from {sim.pools[0].start_month} (demand arrives evenly over 12 months)")
        ax.set_ylabel("million yuan")
        ax.set_title("Pools: cumulative matched demand against pool size (dashed)")
        ax.legend(fontsize=7)
        charts.append(_save(fig, out, "pools", "Pool sufficiency"))
    return charts


def city_chart(comp: CityComparison, out: Path) -> Chart:
    """Per city, the planned spending split into what subsidies pay by category and the net cost."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    names = [c.city.name for c in comp.cities]
    x = range(len(names))
    bottom = [0.0] * len(names)
    net = [_m(c.net_cost) for c in comp.cities]
    ax.bar(x, [max(v, 0.0) for v in net], color=GREY, label="net cost")
    bottom = [max(v, 0.0) for v in net]
    for cat, colour in CATEGORY_COLOURS.items():
        vals = [_m(c.subsidy_by_category[cat]) for c in comp.cities]
        if any(vals):
            ax.bar(x, vals, bottom=bottom, color=colour, label=f"subsidy: {cat}")
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    for i, c in enumerate(comp.cities):
        ax.annotate(f"net {_m(c.net_cost):.2f}", (i, max(net[i], 0.0)), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(list(x), names)
    ax.set_ylim(0, max([*bottom, 0.001]) * 1.3)  # headroom for the legend and the labels
    ax.set_ylabel("million yuan (one year of the plan)")
    ax.set_title(f"Planned spending, subsidies and net cost by city, {comp.on}")
    ax.legend(fontsize=7, loc="upper center", ncol=5)
    return _save(fig, out, "cities", "Net cost by city")
