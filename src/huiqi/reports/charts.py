"""The one chart module of huiqi: the pages (officer's dashboard, matching, the auditor's burn-down, the
sandbox, the city comparison) and the reports (``huiqi simulate --out``, ``huiqi compare-cities --out``) draw
with it. A chart is drawn once as a list of shapes (rectangles, lines, text) and written as SVG (inlined in
pages and reports: no JavaScript, text the browser sets in any script, so Chinese labels need no font here)
and, for the report files, as PNG (Pillow, with a CJK font when the system has one). Every label is in the
language asked for (``lang``: en or zh); amounts on axes are short (1.2亿 / 350万, 120M / 3.5M), the exact
amount is in each bar's tooltip.

Money in tables is exact; a bar's length is a float of its amount, which is all a picture needs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huiqi.money import format_yuan
from huiqi.rules.labels import value_label

if TYPE_CHECKING:
    from huiqi.simulation.cities import CityComparison
    from huiqi.simulation.run import Simulation

PALETTE = ("#2f6fb0", "#d9822b", "#3c9a5f", "#a4508b", "#7a7a7a", "#b8a135")
#: Fonts for the PNG files, the first one present (Chinese glyphs need a CJK font).
FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)

#: The reports' chart titles and legends in Chinese (the English text is the key).
ZH = {
    "Cost by programme: baseline and reform": "各政策成本：现行与改革后",
    "Cost by programme": "各政策成本",
    "Change in cost by sector": "各行业成本变化",
    "Change in cost by size band (employees)": "按企业规模（职工人数）的成本变化",
    "Pools: matched demand against pool size": "资金池：匹配需求与资金池规模",
    "Pool sufficiency": "资金池充足性",
    "baseline": "现行",
    "reform": "改革后",
    "change": "变化",
    "pool size": "资金池规模",
    "demand, baseline": "需求（现行）",
    "demand, reform": "需求（改革后）",
    "net cost": "净成本",
    "Planned spending, subsidies and net cost by city, {on}": "各城市计划支出、补贴与净成本（{on}）",
    "Net cost by city": "各城市净成本",
    "subsidy: compute": "补贴：算力",
    "subsidy: model": "补贴：模型",
    "subsidy: corpus": "补贴：语料",
    "subsidy: office": "补贴：办公用房",
    "subsidy: other": "补贴：其他",
}
CATEGORIES = ("compute", "model", "corpus", "office", "other")


def words(text: str, lang: str) -> str:
    """A chart's text in a language (``ZH`` for Chinese)."""
    return ZH.get(text, text) if lang == "zh" else text


def short(amount: Decimal, lang: str = "en") -> str:
    """An axis label: 1.2亿 / 350万 in Chinese, 120M / 3.5M in English."""
    v = float(amount)  # display only: a label, never a stored amount
    if lang == "zh":
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


def clip(label: str, most: int = 28) -> str:
    """A label cut to fit the label column, marked as cut (the full label is in the bar's tooltip)."""
    return label if len(label) <= most else label[: most - 1] + "…"


@dataclass
class Drawing:
    """A chart as shapes, written as SVG (``svg``) or PNG (``png``) alike."""

    width: int
    height: int
    title: str
    shapes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def rect(self, x: float, y: float, w: float, h: float, fill: str, tip: str = "") -> None:
        """A filled rectangle; ``tip`` is its tooltip (the exact amount)."""
        self.shapes.append(("rect", {"x": x, "y": y, "w": w, "h": h, "fill": fill, "tip": tip}))

    def text(self, x: float, y: float, s: str, anchor: str = "start", cls: str = "", size: int = 0) -> None:
        """A label at a baseline point (``anchor``: start, middle, end)."""
        self.shapes.append(("text", {"x": x, "y": y, "s": s, "anchor": anchor, "cls": cls, "size": size}))

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str) -> None:
        """A straight line (axes, grid)."""
        self.shapes.append(("line", {"x1": x1, "y1": y1, "x2": x2, "y2": y2, "stroke": stroke}))

    def polyline(self, points: Sequence[tuple[float, float]], stroke: str) -> None:
        """A line through points (a burn-down)."""
        self.shapes.append(("polyline", {"points": list(points), "stroke": stroke}))

    def circle(self, x: float, y: float, r: float, fill: str) -> None:
        """A dot (the latest point)."""
        self.shapes.append(("circle", {"x": x, "y": y, "r": r, "fill": fill}))

    def svg(self) -> str:
        """The chart as inline SVG that scales to its box (``width="100%"``, a viewBox)."""
        t = escape(self.title)
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {self.width} {self.height}" '
            f'width="100%" aria-label="{t}" class="chart">',
            f"<title>{t}</title>",
        ]
        for kind, a in self.shapes:
            if kind == "rect":
                tip = f"<title>{escape(a['tip'])}</title>" if a["tip"] else ""
                out.append(
                    f'<rect x="{a["x"]:.0f}" y="{a["y"]:.0f}" width="{max(a["w"], 1):.0f}" '
                    f'height="{a["h"]:.0f}" fill="{a["fill"]}">{tip}</rect>'
                )
            elif kind == "text":
                anchor = "" if a["anchor"] == "start" else f' text-anchor="{a["anchor"]}"'
                cls = f' class="{a["cls"]}"' if a["cls"] else ""
                size = f' font-size="{a["size"]}"' if a["size"] else ""
                out.append(
                    f'<text x="{a["x"]:.0f}" y="{a["y"]:.0f}"{anchor}{cls}{size}>{escape(a["s"])}</text>'
                )
            elif kind == "line":
                out.append(
                    f'<line x1="{a["x1"]:.0f}" y1="{a["y1"]:.0f}" x2="{a["x2"]:.0f}" y2="{a["y2"]:.0f}" '
                    f'stroke="{a["stroke"]}"/>'
                )
            elif kind == "polyline":
                pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in a["points"])
                out.append(f'<polyline fill="none" stroke="{a["stroke"]}" stroke-width="2" points="{pts}"/>')
            else:
                out.append(f'<circle cx="{a["x"]:.1f}" cy="{a["y"]:.1f}" r="{a["r"]}" fill="{a["fill"]}"/>')
        out.append("</svg>")
        return "".join(out)

    def png(self, path: Path, scale: int = 2) -> None:
        """The chart as a PNG file (white ground), drawn from the same shapes as the SVG."""
        from PIL import Image, ImageDraw, ImageFont

        image = Image.new("RGB", (self.width * scale, self.height * scale), "white")
        draw = ImageDraw.Draw(image)
        font_file = next((f for f in FONTS if Path(f).exists()), None)

        def font(size: int) -> Any:
            if font_file is None:
                return ImageFont.load_default()
            return ImageFont.truetype(font_file, size * scale)

        s = scale
        for kind, a in self.shapes:
            if kind == "rect":
                draw.rectangle(
                    [a["x"] * s, a["y"] * s, (a["x"] + max(a["w"], 1)) * s, (a["y"] + a["h"]) * s],
                    fill=a["fill"],
                )
            elif kind == "text":
                f = font(a["size"] or (14 if a["cls"] == "chart-title" else 11))
                anchor = {"start": "ls", "middle": "ms", "end": "rs"}[a["anchor"]]
                draw.text((a["x"] * s, a["y"] * s), a["s"], fill="#1d2733", font=f, anchor=anchor)
            elif kind == "line":
                draw.line([a["x1"] * s, a["y1"] * s, a["x2"] * s, a["y2"] * s], fill=a["stroke"], width=s)
            elif kind == "polyline":
                draw.line([(x * s, y * s) for x, y in a["points"]], fill=a["stroke"], width=2 * s)
            else:
                r = a["r"] * s
                draw.ellipse([a["x"] * s - r, a["y"] * s - r, a["x"] * s + r, a["y"] * s + r], fill=a["fill"])
        image.save(path, optimize=True)


def legend(d: Drawing, series: Sequence[str], x: float, y: float) -> None:
    """Colour keys for the series, in a row from ``x`` (wrapping to the next line at the chart's width)."""
    for i, name in enumerate(series):
        w = 14 + 7 * sum(2 if ord(ch) > 0x2E80 else 1 for ch in name) + 16
        if x + w > d.width:
            x, y = 0, y + 16
        d.rect(x, y - 9, 10, 10, PALETTE[i % len(PALETTE)])
        d.text(x + 14, y, name)
        x += w


def bars(
    title: str,
    rows: Sequence[tuple[str, Sequence[Decimal]]],
    series: Sequence[str],
    lang: str = "en",
    width: int = 640,
    stacked: bool = False,
) -> Drawing:
    """Horizontal bars, one group per row and one bar per series (or the series stacked in one bar); values
    may be negative (drawn left of the zero line)."""
    bar_h, gap, label_w = 14, 10, 180
    n = 1 if stacked else max(1, len(series))
    legend_h = 22 if len(series) > 1 else 0
    height = 40 + len(rows) * (n * bar_h + gap) + 24 + legend_h
    d = Drawing(width, height, title)
    d.text(0, 16, title, cls="chart-title")
    totals = [sum(vals, Decimal(0)) if stacked else None for _, vals in rows]
    values = [v for _, vals in rows for v in vals] + [t for t in totals if t is not None]
    hi = max([Decimal(0), *values])
    lo = min([Decimal(0), *values])
    span = (hi - lo) or Decimal(1)
    plot_w = width - label_w - 90
    zero = label_w + float(plot_w * (-lo / span))

    def x_of(v: Decimal) -> float:
        return label_w + float(plot_w * ((v - lo) / span))

    y = 32
    for (label, vals), total in zip(rows, totals, strict=True):
        d.text(label_w - 6, y + n * bar_h / 2 + 4, clip(label), anchor="end")
        start = Decimal(0)
        for i, v in enumerate(vals):
            name = series[i] if i < len(series) else ""
            amount = format_yuan(v, lang=lang)
            tip = f"{label} · {name}: {amount}" if name else f"{label}: {amount}"
            colour = PALETTE[i % len(PALETTE)]
            if stacked:
                a, b = x_of(start), x_of(start + v)
                d.rect(min(a, b), y, abs(b - a), bar_h - 2, colour, tip)
                start += v
                continue
            a, b = zero, x_of(v)
            top = y + i * bar_h
            d.rect(min(a, b), top, abs(b - a), bar_h - 2, colour, tip)
            d.text(max(a, b) + 4, top + bar_h - 4, short(v, lang), cls="v")
        if total is not None:
            d.text(x_of(max(total, Decimal(0))) + 4, y + bar_h - 4, short(total, lang), cls="v")
        y += n * bar_h + gap
    if lo < 0:
        d.line(zero, 28, zero, y - gap + 2, "#555")
    if len(series) > 1:
        legend(d, series, label_w if width - label_w > 300 else 0, height - 8 - (legend_h - 16))
    if not rows:  # nothing yet: a dash readable at any width, not a blank box
        d.text(width / 2, height - 4, "—", anchor="middle", size=32)
    return d


def bar_chart(
    title: str,
    rows: Sequence[tuple[str, Sequence[Decimal]]],
    series: Sequence[str],
    width: int = 640,
    lang: str = "en",
) -> str:
    """Horizontal bars as inline SVG, one group per row, one bar per series; the exact amount is in each
    bar's tooltip."""
    return bars(title, rows, series, lang, width).svg()


def line_chart(
    title: str,
    points: Sequence[tuple[dt.datetime, Decimal]],
    ceiling: Decimal,
    width: int = 640,
    period: tuple[dt.date, dt.date] | None = None,
    lang: str = "en",
) -> str:
    """A pool's burn-down as inline SVG: what is still available, step by step from funding to now, drawn
    over the pool's ``period`` when given (so that a pool spent in a day shows as a cliff, not as the whole
    width), the axis from the period's first day to its last."""
    height, left, bottom = 200, 70, 24
    d = Drawing(width, height, title)
    d.text(0, 14, title, cls="chart-title")
    top = ceiling or Decimal(1)
    plot_w, plot_h = width - left - 10, height - 30 - bottom
    d.line(left, height - bottom, width - 10, height - bottom, "#999")
    for frac in (Decimal(0), Decimal("0.5"), Decimal(1)):
        yy = height - bottom - int(plot_h * frac)
        d.text(left - 4, yy + 4, short(top * frac, lang), anchor="end")
        d.line(left, yy, width - 10, yy, "#eee")
    if points:
        t0, t1 = points[0][0], points[-1][0]
        if period is not None:
            t0 = min(t0, dt.datetime.combine(period[0], dt.time(), t0.tzinfo))
            t1 = max(t1, dt.datetime.combine(period[1] + dt.timedelta(days=1), dt.time(), t1.tzinfo))
        span = max((t1 - t0).total_seconds(), 1.0)
        coords: list[tuple[float, float]] = []
        prev_y = None
        if period is not None:  # what is available now holds until today (or the period's end)
            points = [*points, (max(points[-1][0], min(dt.datetime.now(t1.tzinfo), t1)), points[-1][1])]
        for at, value in points:
            x = left + plot_w * (at - t0).total_seconds() / span
            yv = height - bottom - float(plot_h * (value / top))
            if prev_y is not None:
                coords.append((x, prev_y))
            coords.append((x, yv))
            prev_y = yv
        d.polyline(coords, PALETTE[0])
        d.circle(*coords[-1], 3, PALETTE[0])  # now, even on day one
        end = period[1] if period is not None else t1.date()
        d.text(left, height - 6, str(t0.date()))
        d.text(width - 10, height - 6, str(end), anchor="end")
    return d.svg()


# -- the reports' charts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chart:
    """A chart written for a report: its name, title and files (PNG and SVG)."""

    name: str
    title: str
    png: Path
    svg: Path

    def svg_text(self) -> str:
        """The SVG, to inline in HTML."""
        return self.svg.read_text(encoding="utf-8")


def save(d: Drawing, out: Path, name: str, title: str) -> Chart:
    """Write a drawing as ``<name>.svg`` and ``<name>.png`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    png, svg = out / f"{name}.png", out / f"{name}.svg"
    svg.write_text(d.svg(), encoding="utf-8")
    d.png(png)
    return Chart(name, title, png, svg)


def simulation_drawings(sim: Mapping[str, Any], lang: str = "en") -> list[tuple[str, str, Drawing]]:
    """(name, title, drawing) of a simulation's charts, from its JSON form (``Simulation.to_json``, what a
    sandbox job keeps): cost per programme before and after; the change by sector and by size band; each
    pool's size against its matched demand before and after. Names as the JSON gives them (a page puts its
    language's in first)."""
    w = lang
    progs = [p for p in sim["programmes"] if p["programme"] in sim["affected"]]
    out = [
        (
            "programmes",
            words("Cost by programme", w),
            bars(
                words("Cost by programme: baseline and reform", w),
                [(p["name"], (Decimal(p["cost_before"]), Decimal(p["cost_after"]))) for p in progs],
                [words("baseline", w), words("reform", w)],
                lang,
            ),
        )
    ]
    for name, key, title in (
        ("sectors", "by_sector", "Change in cost by sector"),
        ("sizes", "by_size", "Change in cost by size band (employees)"),
    ):
        shown = [(value_label(str(r["key"]), lang), (Decimal(r["change"]),)) for r in sim[key]]
        out.append((name, words(title, w), bars(words(title, w), shown, [words("change", w)], lang)))
    if sim["pools"]:
        pools = [
            (p["name"], (Decimal(p["size_after"]), Decimal(p["demand_before"]), Decimal(p["demand_after"])))
            for p in sim["pools"]
        ]
        series = [words(s, w) for s in ("pool size", "demand, baseline", "demand, reform")]
        title = words("Pools: matched demand against pool size", w)
        out.append(("pools", words("Pool sufficiency", w), bars(title, pools, series, lang)))
    return out


def simulation_charts(
    sim: Simulation, out: Path, lang: str = "en", names: Mapping[str, str] | None = None
) -> list[Chart]:
    """A simulation's charts written into ``out`` (SVG and PNG), programmes and pools by ``names`` (id ->
    name in ``lang``), so a Chinese report's charts do not name them in the English the simulation keeps."""
    data = sim.to_json()
    named = names or {}
    for p in data["programmes"]:
        p["name"] = named.get(p["programme"], p["name"])
    for p in data["pools"]:
        p["name"] = named.get(p["pool"], p["name"])
    return [save(d, out, name, title) for name, title, d in simulation_drawings(data, lang)]


def city_drawing(comp: CityComparison, lang: str = "en") -> Drawing:
    """Per city, the planned spending split into the net cost and what subsidies pay by category."""
    cats = [c for c in CATEGORIES if any(city.subsidy_by_category[c] for city in comp.cities)]
    rows = [
        (
            city.city.zh if lang == "zh" else city.city.name,
            (max(city.net_cost, Decimal(0)), *(city.subsidy_by_category[c] for c in cats)),
        )
        for city in comp.cities
    ]
    series = [words("net cost", lang), *(words(f"subsidy: {c}", lang) for c in cats)]
    title = words("Planned spending, subsidies and net cost by city, {on}", lang).format(on=comp.on)
    return bars(title, rows, series, lang, stacked=True)


def city_chart(comp: CityComparison, out: Path, lang: str = "en") -> Chart:
    """The city comparison's chart written into ``out`` (SVG and PNG)."""
    return save(city_drawing(comp, lang), out, "cities", words("Net cost by city", lang))
