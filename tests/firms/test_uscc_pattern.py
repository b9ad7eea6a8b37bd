"""The one credit-code pattern (huiqi.firms.uscc.USCC_PATTERN) the bulk import and the range split use: its
characters are ``ALPHABET``'s, every valid code has its shape, and Python's ``re`` and Arrow's RE2 read it
alike (the split samples codes with one, the import checks columns with the other)."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from huiqi.firms.synth import synth_register
from huiqi.firms.uscc import ALPHABET, USCC_PATTERN, UsccError, validate_uscc

PATTERN = re.compile(USCC_PATTERN)


def test_the_pattern_takes_the_alphabet_and_nothing_else() -> None:
    for code in range(0x250):
        ch = chr(code)
        assert bool(PATTERN.fullmatch("12345678" + ch * 10)) == (ch in ALPHABET), ch
        assert bool(PATTERN.fullmatch(ch * 8 + "A" * 10)) == (ch in "0123456789"), ch


def test_every_valid_code_has_the_shape() -> None:
    codes = synth_register(50, 3)["firms"]["uscc"].to_pylist()
    assert all(PATTERN.fullmatch(validate_uscc(c)) for c in codes)


@settings(max_examples=300)
@given(
    st.one_of(
        st.text(alphabet=ALPHABET + "IOSVZa \n-", min_size=16, max_size=20),
        st.text(max_size=20),
        st.builds(lambda d, r: d + r, st.text("0123456789", min_size=8, max_size=8), st.text(ALPHABET)),
    )
)
def test_re_and_arrow_read_the_pattern_alike(text: str) -> None:
    by_arrow = pc.match_substring_regex(pa.array([text]), USCC_PATTERN)[0].as_py()
    assert by_arrow == bool(PATTERN.fullmatch(text))
    if by_arrow:  # the shape is a code's but for its check character
        try:
            assert validate_uscc(text) == text
        except UsccError as exc:
            assert "check character" in str(exc)
