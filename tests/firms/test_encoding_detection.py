"""Short Chinese text is read as what a mainland Excel or Notepad saved, never as a look-alike encoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from huiqi.firms.io import TextFileError, decode_any_encoding

SHORT = ['{"name_zh": "甲"}', "甲乙", "上海星衍智能科技有限公司,91310115MA1K4ABC12,1200.5"]


@pytest.mark.parametrize("text", SHORT)
@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8", "utf-8-sig", "utf-16"])
def test_short_chinese_text_keeps_its_characters(text: str, encoding: str) -> None:
    decoded, _ = decode_any_encoding(text.encode(encoding), source="firm.json")
    assert decoded.lstrip("\ufeff") == text


def test_utf16_without_a_bom_is_told_by_its_nuls() -> None:
    text = '{"name_zh": "甲"}'
    assert decode_any_encoding(text.encode("utf-16-le"), source="f") == (text, "utf-16-le")


MAINLAND = st.sampled_from("上海市浦东新区张江高科技园区人工智能有限公司研发")


# six characters or more: a shorter GBK text can be valid UTF-8 too (司 is CB BE, UTF-8 for ˾): ambiguous
@given(st.text(alphabet=MAINLAND, min_size=6, max_size=40))
def test_any_mainland_text_in_gbk_reads_back(text: str) -> None:
    try:
        decoded, encoding = decode_any_encoding(text.encode("gbk"), source="f")
    except TextFileError:
        return  # refused by name is allowed; misread is not
    assert decoded == text, f"read as {encoding}: {decoded!r}"
