"""Money helpers: exact yuan, integer fen, half-up rounding, formatting; floats refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from huiqi.money import MoneyError, fen_to_yuan, format_yuan, parse_decimal, quantize_fen, yuan, yuan_to_fen

fens = st.integers(min_value=-(10**17), max_value=10**17)


@given(fens)
def test_fen_yuan_round_trip(fen: int) -> None:
    amount = fen_to_yuan(fen)
    assert amount.as_tuple().exponent == -2
    assert yuan_to_fen(amount) == fen
    assert yuan(str(amount)) == amount


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=4, allow_nan=False, allow_infinity=False))
def test_quantize_half_up_matches_integer_arithmetic(value: Decimal) -> None:
    # value has 4 places: in units of 1/10000 yuan; round to fen half away from zero by integer arithmetic.
    units = int(value * 10000)
    sign = -1 if units < 0 else 1
    expected_fen = sign * ((abs(units) + 50) // 100)
    assert quantize_fen(value) == fen_to_yuan(expected_fen)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.005", "0.01"), ("0.015", "0.02"), ("2.675", "2.68"), ("-0.005", "-0.01"), ("1.004999", "1.00")],
)
def test_quantize_half_up_examples(value: str, expected: str) -> None:
    assert quantize_fen(Decimal(value)) == Decimal(expected)


@given(fens)
def test_format_round_trips_through_parse(fen: int) -> None:
    amount = fen_to_yuan(fen)
    text = format_yuan(amount, unit=False)
    assert parse_decimal(text) == amount
    assert format_yuan(amount).endswith(" yuan")
    assert format_yuan(amount, lang="zh").endswith("元")


def test_format_groups_thousands() -> None:
    assert format_yuan(Decimal("5000000")) == "5,000,000.00 yuan"
    assert format_yuan(Decimal("1234.5"), lang="zh") == "1,234.50元"


@pytest.mark.parametrize("bad", [1.5, 0.1, float("nan")])
def test_floats_refused(bad: float) -> None:
    with pytest.raises(MoneyError, match="float"):
        yuan(bad)


def test_more_than_two_places_refused() -> None:
    with pytest.raises(MoneyError, match="more than two decimal places"):
        yuan("1.005")


@pytest.mark.parametrize("bad", [True, "abc", "NaN", "Infinity", None])
def test_non_numbers_refused(bad: object) -> None:
    with pytest.raises(MoneyError):
        yuan(bad)


def test_strings_with_separators() -> None:
    assert yuan("1_000_000") == Decimal("1000000.00")
    assert yuan("1,234.56") == Decimal("1234.56")
    assert yuan(12) == Decimal("12.00")


def test_yuan_to_fen_refuses_fractions_of_fen() -> None:
    with pytest.raises(MoneyError, match="whole number of fen"):
        yuan_to_fen(Decimal("0.001"))


def test_fen_to_yuan_refuses_non_integers() -> None:
    with pytest.raises(MoneyError):
        fen_to_yuan(True)
    with pytest.raises(MoneyError):
        fen_to_yuan(1.0)  # type: ignore[arg-type]


@given(st.text(alphabet="0123456789abcdefx.-+", min_size=65, max_size=400))
def test_a_long_refused_value_is_cut_in_its_message_and_its_figure(text: str) -> None:
    with pytest.raises(MoneyError) as caught:
        yuan(text)
    shown = repr(text)
    assert caught.value.why == "too_long", caught.value
    assert caught.value.figures["value"] == f"{text[:20]}...{text[-8:]}"
    assert f"{shown[:20]}...{shown[-8:]} ({len(shown)} characters)" in str(caught.value)
    assert text not in str(caught.value)
