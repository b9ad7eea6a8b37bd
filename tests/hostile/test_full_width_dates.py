"""A date typed with a Chinese input method's full-width digits (２０２３年５月１日) is read under the
mapping's formats, as full-width amounts are; it was refused ("expected a date like 2024年03月09日")."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from huiqi.firms.importing import BadValue, ColumnRule, convert

DATE = pa.date32()  # the layout's date columns
RULE = ColumnRule("成立日期", "registration_date", formats=("%Y-%m-%d", "%Y年%m月%d日", "%Y/%m/%d"))


TYPED = ["２０２３年５月１日", "2023年5月1日", "２０２３／０５／０１", "２０２３-０５-０１"]


@pytest.mark.parametrize("text", TYPED)
def test_full_width_dates_are_read_under_the_formats(text: str) -> None:
    assert convert(text, DATE, RULE) == dt.date(2023, 5, 1)


@pytest.mark.parametrize("text", ["２０２３年５月３２日", "²⁰²³-5-1", "2023年5月"])
def test_what_is_no_date_is_still_refused(text: str) -> None:
    with pytest.raises(BadValue, match="a date like 2024-03-09 or 2024年03月09日 or 2024/03/09"):
        convert(text, DATE, RULE)
