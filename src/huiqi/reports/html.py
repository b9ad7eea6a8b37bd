"""Self-contained HTML reports: one file with its CSS and its charts (SVG) inlined, nothing fetched."""

# ruff: noqa: E501 - HTML and CSS templates read better unwrapped

from __future__ import annotations

from decimal import Decimal
from html import escape
from typing import TYPE_CHECKING

from huiqi.money import format_yuan
from huiqi.reports.text import POOL_ASSUMPTION, SIM_FOOT, SIM_INTRO, SIM_MOVED, group_label, say

if TYPE_CHECKING:
    from collections.abc import Mapping

    from huiqi.reports.charts import Chart
    from huiqi.simulation.cities import CityComparison, CityResult
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


def _page(title: str, body: str, lang: str = "en") -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n"
    )


def _figures(charts: list[Chart]) -> str:
    return "".join(
        f"<figure>{c.svg_text()}<figcaption>{escape(c.title)}</figcaption></figure>" for c in charts
    )


def _groups(title: str, rows: list[GroupRow], lang: str, limit: int = 20) -> str:
    body = "".join(
        f"<tr><td>{escape(group_label(r.key, lang))}</td><td class='n'>{r.firms_changed}</td><td class='n'>{_money(r.cost_before)}"
        f"</td><td class='n'>{_money(r.cost_after)}</td>{_signed(r.change)}</tr>"
        for r in rows[:limit]
    )
    more = (
        f"<p class='note'>{escape(say('{more} more rows in the JSON output.', lang, more=len(rows) - limit))}</p>"
        if len(rows) > limit
        else ""
    )
    heads = "".join(
        f"<th>{escape(say(h, lang))}</th>" for h in ("firms changed", "baseline", "reform", "change")
    )
    return f"<h2>{escape(say(title, lang))}</h2><table><tr><th></th>{heads}</tr>{body}</table>{more}"


#: the simulation page's fixed words (their Chinese in ``huiqi.reports.text.ZH``)
_SIM_WORDS = (
    "Reform:",
    "Cost",
    "baseline",
    "reform",
    "change",
    "By programme",
    "programme",
    "eligible before",
    "after",
    "gained / lost eligibility",
    " (untouched, shares a pool)",
    "Pool sufficiency",
    POOL_ASSUMPTION,
    "pool",
    "size",
    "demand, baseline",
    "demand, reform",
    "runs out, baseline",
    "runs out, reform",
    "suffices",
    "Largest gains and losses",
    "firm",
    "gain",
    "loss",
    "Charts",
    SIM_FOOT,
)


def simulation_html(
    sim: Simulation, charts: list[Chart], *, lang: str = "en", names: Mapping[str, str] | None = None
) -> str:
    """The simulation as one self-contained page in ``lang`` (en or zh): headings, sectors and districts in
    that language, programmes and pools by ``names`` (id -> name in ``lang``; default the English the
    simulation keeps)."""
    r = sim.reform
    named = names or {}
    t = {k: escape(say(k, lang)) for k in _SIM_WORDS}
    changes = "".join(f"<li><code>{escape(c)}</code></li>" for c in r["changes"])
    progs = "".join(
        f"<tr><td><code>{escape(p.programme)}</code><br><span class='note'>{escape(named.get(p.programme, p.name))}"
        f"{t[' (untouched, shares a pool)'] if p.programme not in sim.affected else ''}</span></td>"
        f"<td class='n'>{p.eligible_before}</td><td class='n'>{p.eligible_after}</td>"
        f"<td class='n'>+{p.newly_eligible} / −{p.no_longer_eligible}</td>"
        f"<td class='n'>{_money(p.cost_before)}</td><td class='n'>{_money(p.cost_after)}</td>{_signed(p.change)}</tr>"
        for p in sim.programmes
    )
    pools = "".join(
        f"<tr><td><code>{escape(p.pool)}</code><br><span class='note'>{escape(named.get(p.pool, p.name))}</span></td>"
        f"<td class='n'>{_money(p.size_before)}{'' if p.size_after == p.size_before else ' → ' + _money(p.size_after)}"
        f"</td><td class='n'>{_money(p.demand_before)}</td><td class='n'>{_money(p.demand_after)}</td>"
        f"<td>{escape(p.runs_out_before) if p.runs_out_before else t['suffices']}</td>"
        f"<td>{escape(p.runs_out_after) if p.runs_out_after else t['suffices']}</td></tr>"
        for p in sim.pools
    )
    tops = "".join(f"<tr><td><code>{escape(u)}</code></td>{_signed(a)}</tr>" for u, a in sim.top_gainers)
    bottoms = "".join(f"<tr><td><code>{escape(u)}</code></td>{_signed(a)}</tr>" for u, a in sim.top_losers)
    code = ", ".join
    intro = say(
        SIM_INTRO,
        lang,
        id=f"<code>{escape(r['id'])}</code>",
        firms=f"{sim.firms:,}",
        on=sim.on,
        touched=code(f"<code>{escape(x)}</code>" for x in sim.touched),
        affected=code(f"<code>{escape(x)}</code>" for x in sim.affected),
    )
    moved = say(
        SIM_MOVED,
        lang,
        gainers=f"{sim.gainers:,}",
        gained=_money(sim.gained),
        losers=f"{sim.losers:,}",
        lost=_money(sim.lost),
    )
    body = f"""
<h1>{t["Reform:"]} {escape(r["title"][lang if lang == "zh" else "en"])} <span class="note">{escape(r["title"]["en" if lang == "zh" else "zh"])}</span></h1>
<p class="note">{intro}</p>
<ul>{changes}</ul>
<h2>{t["Cost"]}</h2>
<table><tr><th>{t["baseline"]}</th><th>{t["reform"]}</th><th>{t["change"]}</th></tr>
<tr><td class="n">{_money(sim.cost_before)}</td><td class="n">{_money(sim.cost_after)}</td>{_signed(sim.change)}</tr></table>
<p>{moved}</p>
<h2>{t["By programme"]}</h2>
<table><tr><th>{t["programme"]}</th><th>{t["eligible before"]}</th><th>{t["after"]}</th><th>{t["gained / lost eligibility"]}</th>
<th>{t["baseline"]}</th><th>{t["reform"]}</th><th>{t["change"]}</th></tr>{progs}</table>
{_groups("By sector", sim.by_sector, lang)}
{_groups("By district", sim.by_district, lang)}
{_groups("By size band (employees)", sim.by_size, lang)}
<h2>{t["Pool sufficiency"]}</h2>
<p class="note">{t[POOL_ASSUMPTION]}</p>
<table><tr><th>{t["pool"]}</th><th>{t["size"]}</th><th>{t["demand, baseline"]}</th><th>{t["demand, reform"]}</th><th>{t["runs out, baseline"]}</th>
<th>{t["runs out, reform"]}</th></tr>{pools}</table>
<h2>{t["Largest gains and losses"]}</h2>
<table><tr><th>{t["firm"]}</th><th>{t["gain"]}</th></tr>{tops}</table>
<table><tr><th>{t["firm"]}</th><th>{t["loss"]}</th></tr>{bottoms}</table>
<h2>{t["Charts"]}</h2>
{_figures(charts)}
<p class="note">{t[SIM_FOOT]}</p>
"""
    return _page(say("Reform {id}", lang, id=r["id"]), body, lang)


def cities_html(comp: CityComparison, chart: Chart | None, *, lang: str = "en") -> str:
    """The city comparison as one page in ``lang`` (en or zh): the side-by-side table, the chart, each
    city's programmes."""
    from huiqi.rules.explain import render_text
    from huiqi.simulation.cities import say as said

    def city(c: CityResult) -> str:
        return escape(c.city.zh if lang == "zh" else f"{c.city.name} {c.city.zh}")

    heads = "".join(f"<th>{city(c)}</th>" for c in comp.cities)

    def row(label: str, values: list[Decimal], bold: bool = False) -> str:
        cells = "".join(
            f"<td class='n'>{'<b>' if bold else ''}{_money(v)}{'</b>' if bold else ''}</td>" for v in values
        )
        return f"<tr><td>{escape(said(label, lang))}</td>{cells}</tr>"

    rows = f"<tr><th colspan='99'>{escape(said('planned spending (one year)', lang))}</th></tr>"
    for cat in ("compute", "model", "corpus", "office"):
        rows += row(cat, [c.spending[cat] for c in comp.cities])
    rows += row("total", [c.total_spending for c in comp.cities], True)
    rows += f"<tr><th colspan='99'>{escape(said('subsidies', lang))}</th></tr>"
    for cat in ("compute", "model", "corpus", "office", "other"):
        values = [c.subsidy_by_category[cat] for c in comp.cities]
        if any(values):
            rows += row(cat, values)
    rows += row("total", [c.total_subsidy for c in comp.cities], True)
    rows += row("net cost", [c.net_cost for c in comp.cities], True)
    details = ""
    for c in comp.cities:
        items = "".join(f"<pre>{escape(render_text(s.result, lang))}</pre>" for s in c.subsidies)
        details += f"<h2>{city(c)}</h2>{items}"
    firm = comp.firm
    intro = said(
        "{name} ({uscc}), as of {on}. The plan is the profile's contracts and offices for one year, evaluated as "
        "if the firm were registered in each city (districts cleared); assumptions are marked in each "
        "explanation.",
        lang,
        name=firm.name_zh if lang == "zh" else (firm.name_en or firm.name_zh),
        uscc=firm.uscc,
        on=comp.on,
    )
    body = f"""
<h1>{escape(said("Where does the plan cost least?", lang))} <span class="note">{escape(firm.name_zh)}</span></h1>
<p class="note">{escape(intro)}</p>
<table><tr><th></th>{heads}</tr>{rows}</table>
{_figures([chart]) if chart else ""}
{details}
"""
    return _page(said("City comparison", lang), body, lang)
