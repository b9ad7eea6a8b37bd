"""The ranged import's settings (``HUIQI_IMPORT_PARTITION_FIRMS``, ``HUIQI_IMPORT_WHOLE_FIRMS``) are
huiqi.config's: a value that is not a number of firms is refused naming the variable, the value and what it
takes (it once silently meant the default), and ``huiqi`` says so without a traceback, exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cli_helpers import ok, run_process, sqlite_url
from huiqi.config import PARTITION_FIRMS_ENV, WHOLE_FIRMS_ENV, import_ranges
from huiqi.firms.exporting import write_tables
from huiqi.firms.synth import synth_register


@pytest.mark.parametrize(
    ("size", "whole", "expected"),
    [
        (None, None, (2_000_000, 4_000_000)),
        ("", " ", (2_000_000, 4_000_000)),
        ("7", "0", (7, 0)),
        (" 1_500_000 ", "+3000000", (1_500_000, 3_000_000)),
        ("-1", "-2", (-1, -2)),
    ],
)
def test_the_settings_are_read_as_integers_else_their_defaults(
    monkeypatch: pytest.MonkeyPatch, size: str | None, whole: str | None, expected: tuple[int, int]
) -> None:
    for name, value in ((PARTITION_FIRMS_ENV, size), (WHOLE_FIRMS_ENV, whole)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert import_ranges() == expected


@pytest.mark.parametrize("name", [PARTITION_FIRMS_ENV, WHOLE_FIRMS_ENV])
@pytest.mark.parametrize("value", ["abc", "1e6", "-", "2.5", "2 000 000"])
def test_a_value_not_a_number_of_firms_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as refused:
        import_ranges()
    said = str(refused.value)
    assert f"{name}={value!r}: expected an integer number of firms" in said
    assert ("0 or less: never split" in said) == (name == PARTITION_FIRMS_ENV)


def test_huiqi_refuses_an_import_under_a_bad_setting_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_tables(synth_register(5, 1), tmp_path / "export")
    url = sqlite_url(tmp_path)
    monkeypatch.setenv(PARTITION_FIRMS_ENV, "1e6")
    refused = run_process(url, tmp_path, "register", "import", str(source))
    assert refused.returncode == 2, (refused.stdout, refused.stderr)
    assert "Traceback" not in refused.stderr
    assert f"{PARTITION_FIRMS_ENV}='1e6': expected an integer number of firms a range" in refused.stderr
    monkeypatch.setenv(PARTITION_FIRMS_ENV, "1000000")
    assert "5 added" in ok(run_process(url, tmp_path, "register", "import", str(source)))
