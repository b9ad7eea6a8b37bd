"""One chart module for pages and reports (``huiqi.reports.charts``): the pages' charts are its SVG in the
page's language, the reports' files its SVG and PNG; labels in the language asked, bars within their box,
negative changes left of the zero line, a burn-down over the pool's whole period."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from huiqi.reports import charts
from huiqi.web import charts as page_charts
from huiqi.web.i18n import set_language

from .conftest import Web

EXAMPLE = Path(__file__).resolve().parents[2] / "src/huiqi/firms/examples/small-ai-firm.json"


def numbers(svg: str, attr: str) -> list[float]:
    return [float(v) for v in re.findall(rf'\b{attr}="(-?[\d.]+)"', svg)]


def test_the_pages_draw_with_the_reports_module_in_the_page_language() -> None:
    rows = [("人工智能", (Decimal("35000000"), Decimal("120000000")))]
    for lang in ("zh", "en"):
        set_language(lang)
        assert page_charts.bar_chart("t", rows, ["a", "b"]) == charts.bar_chart(
            "t", rows, ["a", "b"], lang=lang
        )
    assert ">3500万<" in charts.bar_chart("t", rows, ["a", "b"], lang="zh")
    assert ">1.2亿<" in charts.bar_chart("t", rows, ["a", "b"], lang="zh")
    assert ">120.0M<" in charts.bar_chart("t", rows, ["a", "b"], lang="en")
    zh = charts.bar_chart("t", rows, ["a", "b"], lang="zh")
    assert "<title>人工智能 · b: 120,000,000.00元</title>" in zh
    assert "<title>人工智能 · b: 120,000,000.00 yuan</title>" in charts.bar_chart("t", rows, ["a", "b"])


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(
        st.decimals(min_value=-(10**10), max_value=10**10, places=2, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=12,
    ),
    stacked=st.booleans(),
)
def test_every_bar_stays_inside_its_box(values: list[Decimal], stacked: bool) -> None:
    """Whatever the amounts, every bar starts and ends within the chart's width, and a negative change is
    drawn left of the zero line."""
    rows = [(f"row {i}", (v,) if not stacked else (abs(v), abs(v) / 2)) for i, v in enumerate(values)]
    d = charts.bars("t", rows, ["x"] if not stacked else ["x", "y"], stacked=stacked)
    for kind, a in d.shapes:
        if kind == "rect":
            assert a["x"] >= 0 and a["x"] + a["w"] <= d.width + 1, a
    if not stacked and any(v < 0 for v in values) and any(v > 0 for v in values):
        zero = next(a["x1"] for kind, a in d.shapes if kind == "line")
        bars = [a for kind, a in d.shapes if kind == "rect"]
        for v, a in zip(values, bars, strict=True):
            assert (a["x"] + a["w"] <= zero + 1) if v < 0 else (a["x"] >= zero - 1), (v, a, zero)


def test_a_burn_down_spans_the_pools_period() -> None:
    at = dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC)
    svg = charts.line_chart(
        "pool",
        [(at, Decimal(100)), (at + dt.timedelta(hours=1), Decimal(60))],
        Decimal(100),
        period=(dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
        lang="zh",
    )
    labels = re.findall(r"<text[^>]*>([^<]+)</text>", svg)
    assert "2025-01-01" in labels and "2025-12-31" in labels
    xs = [float(p.split(",")[0]) for p in re.search(r'points="([^"]+)"', svg).group(1).split()]  # type: ignore[union-attr]
    assert (
        xs[1] - xs[0] < 5
    )  # the hour of spending is near the start of a year-long axis, not its whole width


def test_the_city_comparison_chart_is_in_chinese_on_a_chinese_page(sqlite_web: Web) -> None:
    client = sqlite_web.client()
    profile = EXAMPLE.read_text(encoding="utf-8")
    for lang, city, net in (("zh", "上海", "净成本"), ("en", "Shanghai", "net cost")):
        client.cookies.set("huiqi_lang", lang)
        page = client.post("/compare", data={"profile": profile}).text
        svg = page[page.index("<svg") : page.index("</svg>")]
        assert f">{city}<" in svg and f">{net}<" in svg, lang
        if lang == "zh":
            assert not re.search(r">[A-Za-z][a-z]+ [a-z]+", svg)  # no English words in the zh chart


def test_the_reports_files_are_svg_and_png_in_the_language_asked(tmp_path: Path) -> None:
    import datetime

    from huiqi.app.registry import open_packs
    from huiqi.app.sandbox import compare_cities
    from huiqi.firms import firm_from_data

    firm = firm_from_data(json.loads(EXAMPLE.read_text(encoding="utf-8")))
    view = compare_cities(
        None, programmes=open_packs(), firm=firm, on=datetime.date(2025, 12, 1), lang="zh", out=tmp_path
    )
    png, svg, _html = view.files
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "各城市计划支出" in svg.read_text(
        encoding="utf-8"
    )
