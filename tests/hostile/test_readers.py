"""Properties of the readers every outside input goes through (issue 13): for any text or bytes they either
return data or raise their one documented error, quickly; what they accept they read exactly."""

from __future__ import annotations

import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from huiqi.firms.errors import ProfileError
from huiqi.firms.io import (
    MAX_DEPTH,
    TextFileError,
    decode_any_encoding,
    load_json_text,
    parse_text,
)
from huiqi.money import MAX_MAGNITUDE, MoneyError, format_yuan, parse_decimal, yuan
from huiqi.rules.yamlpos import YamlError, load_with_positions

#: Text that looks like YAML and JSON more often than random text does.
_yamlish = st.lists(
    st.sampled_from(
        [*"[]{}:,-&*!|>'\"#\n ab01.eE+_\\u", "2023-02-30", "\\ud800", "9" * 40, "&a", "*a", "实"]
    ),
    max_size=60,
).map("".join)
_any_text = st.one_of(st.text(max_size=200), _yamlish)

_printable = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
_plain = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.text(_printable, max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(_printable, min_size=1, max_size=6), inner, max_size=4)
    ),
    max_leaves=25,
)


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _unicode(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_unicode(k) and _unicode(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_unicode(v) for v in value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


@settings(max_examples=300, deadline=None)
@given(_any_text)
def test_programme_yaml_is_data_or_a_positioned_error(text: str) -> None:
    started = time.monotonic()
    try:
        load_with_positions(text)
    except YamlError as exc:
        assert exc.line >= 1 and exc.column >= 1
    assert time.monotonic() - started < 2


@settings(max_examples=300, deadline=None)
@given(_any_text, st.sampled_from(["firm.yaml", "firm.json"]))
def test_firm_text_is_data_or_a_profile_error(text: str, source: str) -> None:
    try:
        parse_text(text, source=source)
    except ProfileError as exc:
        assert exc.problems and all(str(p) for p in exc.problems)


@settings(max_examples=200, deadline=None)
@given(_plain)
def test_yaml_and_json_read_back_what_was_written(value: Any) -> None:
    """Plain data dumped as YAML or JSON reads back equal, unless it is beyond the bounds (then refused)."""
    import json

    text = yaml.safe_dump({"v": value}, allow_unicode=True)
    deep = _depth(value) + 1 > MAX_DEPTH
    try:
        data, _ = load_with_positions(text)
        assert not deep
        assert data == {"v": value}
    except YamlError as exc:
        assert deep or not _unicode(value) or "digits" in exc.message, exc
    encoded = json.dumps({"v": value})
    try:
        assert load_json_text(encoded) == {"v": value}
    except ValueError as exc:
        assert deep or not _unicode(value) or "digits" in str(exc), exc


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_are_text_or_refused_by_name(data: bytes) -> None:
    try:
        text, encoding = decode_any_encoding(data, source="upload.csv")
    except TextFileError as exc:
        assert str(exc).startswith("upload.csv: ")
        return
    assert isinstance(text, str) and encoding


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"]))
def test_unicode_files_read_exactly(text: str, encoding: str) -> None:
    # a UTF-16 file starting with NUL begins FF FE 00 00: the UTF-32 mark (no text file starts with NUL)
    assume(not text.startswith("\x00"))
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:  # a lone surrogate has no encoding
        return
    assert decode_any_encoding(data, source="f")[0] == text


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=80), st.integers(), st.decimals(), st.floats()))
def test_numbers_are_within_the_bound_or_refused(value: object) -> None:
    try:
        number = parse_decimal(value)
    except MoneyError as exc:
        assert str(exc).startswith("value: ")
        return
    assert abs(number) <= MAX_MAGNITUDE
    try:
        amount = yuan(number)
    except MoneyError:
        return
    assert yuan(format_yuan(amount, unit=False)) == amount


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_any_finite_amount_formats(value: Decimal) -> None:
    text = format_yuan(value)
    assert text.endswith(" yuan")


@pytest.mark.skipif(sys.platform != "linux", reason="atheris wheels are for Linux")
def test_atheris_finds_nothing_in_a_short_run() -> None:
    pytest.importorskip("atheris")
    result = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("fuzz_readers.py")),
            "-max_total_time=8",
            "-max_len=400",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
