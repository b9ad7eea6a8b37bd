"""Unified social credit codes: what passes, and messages that say what is wrong."""

from __future__ import annotations

import pytest

from huiqi.firms import UsccError, make_uscc, validate_uscc


@pytest.mark.parametrize("code", ["91110000600037341L", "91310115MA1K3BTP2B"])
def test_valid_examples(code: str) -> None:
    assert validate_uscc(code) == code


def test_compact_form_returned() -> None:
    assert validate_uscc(" 9131 0115-MA1K3BTP2B ") == "91310115MA1K3BTP2B"
    assert validate_uscc("91310115ma1k3btp2b") == "91310115MA1K3BTP2B"


def test_wrong_check_character_names_the_right_one() -> None:
    with pytest.raises(UsccError, match="check character should be 'L'"):
        validate_uscc("91110000600037341X")


@pytest.mark.parametrize("bad", ["I", "O", "S", "V", "Z"])
def test_letters_outside_the_alphabet(bad: str) -> None:
    with pytest.raises(UsccError, match=f"contains '{bad}'; allowed are 0-9 and A-Z without I, O, S, V, Z"):
        validate_uscc(f"91310115MA1K3BT{bad}2B")


@pytest.mark.parametrize(("code", "length"), [("9131011", 7), ("91310115MA1K3BTP2BX", 19), ("", 0)])
def test_wrong_length(code: str, length: int) -> None:
    with pytest.raises(UsccError, match=f"has {length} characters, expected 18"):
        validate_uscc(code)


def test_region_part_must_be_digits() -> None:
    with pytest.raises(UsccError, match="first 8 characters"):
        validate_uscc("A1110000600037341L")


def test_not_a_string() -> None:
    with pytest.raises(UsccError, match="must be a string"):
        validate_uscc(91110000600037341)  # type: ignore[arg-type]


def test_make_uscc_completes_the_check_character() -> None:
    assert make_uscc("91310115MA1K3BTP2") == "91310115MA1K3BTP2B"
    assert make_uscc("91110000600037341") == "91110000600037341L"
