"""Self-contained HTML reports: one file with its CSS and its charts (SVG) inlined, nothing fetched."""

# ruff: noqa: E501 - HTML and CSS templates read better unwrapped

from __future__ import annotations

from decimal import Decimal
from html import escape
from typing import TYPE_CHECKING

from huiqi.money import format_yuan

if TYPE_CHECKING:
    from huiqi.reports.charts import Chart
    from huiqi.simulation.cities import CityComparison
    from huiqi.simulation.run import GroupRow, Simulation

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Noto Sans CJK SC",sans-serif;margin:2em auto;
max-width:1000px;color:#222;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{padding:.25em .7em;border-bottom:1px solid #eee}
th{text-align:left;background:#f5f5f5}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.pos{color:#1a6b2f}.neg{color:#b03a2e}.note{color:#666;font-size:.85em}figure{margin:1em 0}
figure svg{max-width:100%;height:auto}pre{background:#f8f8f8;padding:.8em;overflow-x:auto;font-size:.8em}
"""


def _money(v: Decimal) -> str:
    return escape(format_yuan(v, unit=False))


def _signed(v: Decimal) -> str:
    cls = "pos" if v > 0 else "neg" if v < 0 else ""
    sign = "+" if v > 0 else ""
    return f'<td class="n {cls}">{sign}{_money(v)}</td>'


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n"
    )


def _figures(charts: list[Chart]) -> str:
    return "".join(
        f"<figure>{c.svg_text()}<figcaption>{escape(c.title)}</figcaption></figure>" for c in charts
    )


def _groups(title: str, rows: list[GroupRow], limit: int = 20) -> str:
    body = "".join(
        f"<tr><td>{escape(r.key)}</td><td class='n'>{r.firms_changed}</td><td class='n'>{_money(r.cost_before)}"
        f"</td><td class='n'>{_money(r.cost_after)}</td>{_signed(r.change)}</tr>"
        for r in rows[:limit]
    )
    more = (
        f"<p class='note'>{len(rows) - limit} more rows in the JSON output.</p>" if len(rows) > limit else ""
    )
    return (
        f"<h2>{escape(title)}</h2><table><tr><th></th><th>firms changed</th><th>baseline</th><th>reform</th>"
        f"<th>change</th></tr>{body}</table>{more}"
    )


def simulation_html(sim: Simulation, charts: list[Chart]) -> str:
    r = sim.reform
    changes = "".join(f"<li><code>{escape(c)}</code></li>" for c in r["changes"])
    progs = "".join(
        f"<tr><td><code>{escape(p.programme)}</code><br><span class='note'>{escape(p.name)}"
        f"{' (untouched, shares a pool)' if p.programme not in sim.affected else ''}</span></td>"
        f"<td class='n'>{p.eligible_before}</td><td class='n'>{p.eligible_after}</td>"
        f"<td class='n'>+{p.newly_eligible} / −{p.no_longer_eligible}</td>"
        f"<td class='n'>{_money(p.cost_before)}</td><td class='n'>{_money(p.cost_after)}</td>{_signed(p.change)}</tr>"
        for p in sim.programmes
    )
    pools = "".join(
        f"<tr><td><code>{escape(p.pool)}</code><br><span class='note'>{escape(p.name)}</span></td>"
        f"<td class='n'>{_money(p.size_before)}{'' if p.size_after == p.size_before else ' → ' + _money(p.size_after)}"
        f"</td><td class='n'>{_money(p.demand_before)}</td><td class='n'>{_money(p.demand_after)}</td>"
        f"<td>{escape(p.runs_out_before or 'suffices')}</td><td>{escape(p.runs_out_after or 'suffices')}</td></tr>"
        for p in sim.pools
    )
    tops = "".join(f"<tr><td><code>{escape(u)}</code></td>{_signed(a)}</tr>" for u, a in sim.top_gainers)
    bottoms = "".join(f"<tr><td><code>{escape(u)}</code></td>{_signed(a)}</tr>" for u, a in sim.top_losers)
    body = f"""
<h1>Reform: {escape(r["title"]["en"])} <span class="note">{escape(r["title"]["zh"])}</span></h1>
<p class="note">Reform <code>{escape(r["id"])}</code> over {sim.firms:,} firms, evaluated on {sim.on}.
Programmes changed: {", ".join(f"<code>{escape(t)}</code>" for t in sim.touched)};
recomputed (with those that depend on them): {", ".join(f"<code>{escape(a)}</code>" for a in sim.affected)}.
Other programmes are unchanged and not part of the difference.</p>
<ul>{changes}</ul>
<h2>Cost</h2>
<table><tr><th>baseline</th><th>reform</th><th>change</th></tr>
<tr><td class="n">{_money(sim.cost_before)}</td><td class="n">{_money(sim.cost_after)}</td>{_signed(sim.change)}</tr></table>
<p>{sim.gainers:,} firms gain {_money(sim.gained)} yuan in all; {sim.losers:,} firms lose {_money(sim.lost)} yuan.</p>
<h2>By programme</h2>
<table><tr><th>programme</th><th>eligible before</th><th>after</th><th>gained / lost eligibility</th>
<th>baseline</th><th>reform</th><th>change</th></tr>{progs}</table>
{_groups("By sector", sim.by_sector)}
{_groups("By district", sim.by_district)}
{_groups("By size band (employees)", sim.by_size)}
<h2>Pool sufficiency</h2>
<p class="note">Assumption: every eligible firm claims its full amount, and the matched demand arrives evenly over
twelve months from the month of the evaluation date (or of the application window's opening, if later); a pool
runs out in the first month in which the demand arrived so far exceeds it. Yearly pools are compared with one
year's demand.</p>
<table><tr><th>pool</th><th>size</th><th>demand, baseline</th><th>demand, reform</th><th>runs out, baseline</th>
<th>runs out, reform</th></tr>{pools}</table>
<h2>Largest gains and losses</h2>
<table><tr><th>firm</th><th>gain</th></tr>{tops}</table>
<table><tr><th>firm</th><th>loss</th></tr>{bottoms}</table>
<h2>Charts</h2>
{_figures(charts)}
<p class="note">Amounts in yuan, exact to the fen. Generated by huiqi simulate.</p>
"""
    return _page(f"Reform {r['id']}", body)


def cities_html(comp: CityComparison, chart: Chart | None, *, lang: str = "en") -> str:
    """The city comparison as one page: the side-by-side table, the chart, each city's programmes."""
    from huiqi.rules.explain import render_text

    heads = "".join(f"<th>{escape(c.city.name)} {escape(c.city.zh)}</th>" for c in comp.cities)

    def row(label: str, values: list[Decimal], bold: bool = False) -> str:
        cells = "".join(
            f"<td class='n'>{'<b>' if bold else ''}{_money(v)}{'</b>' if bold else ''}</td>" for v in values
        )
        return f"<tr><td>{escape(label)}</td>{cells}</tr>"

    rows = "<tr><th colspan='99'>planned spending (one year)</th></tr>"
    for cat in ("compute", "model", "corpus", "office"):
        rows += row(cat, [c.spending[cat] for c in comp.cities])
    rows += row("total", [c.total_spending for c in comp.cities], True)
    rows += "<tr><th colspan='99'>subsidies</th></tr>"
    for cat in ("compute", "model", "corpus", "office", "other"):
        values = [c.subsidy_by_category[cat] for c in comp.cities]
        if any(values):
            rows += row(cat, values)
    rows += row("total", [c.total_subsidy for c in comp.cities], True)
    rows += row("net cost", [c.net_cost for c in comp.cities], True)
    details = ""
    for c in comp.cities:
        items = "".join(f"<pre>{escape(render_text(s.result, lang))}</pre>" for s in c.subsidies)
        details += f"<h2>{escape(c.city.name)} {escape(c.city.zh)}</h2>{items}"
    firm = comp.firm
    body = f"""
<h1>Where does the plan cost least? <span class="note">{escape(firm.name_zh)}</span></h1>
<p class="note">{escape(firm.name_en or firm.name_zh)} ({escape(firm.uscc)}), as of {comp.on}. The plan is the
profile's contracts and offices for one year, evaluated as if the firm were registered in each city (districts
cleared); assumptions are marked in each explanation.</p>
<table><tr><th></th>{heads}</tr>{rows}</table>
{_figures([chart]) if chart else ""}
{details}
"""
    return _page("City comparison", body)
