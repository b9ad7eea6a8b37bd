"""Call files, reform files and programme test files saved by a Chinese Windows editor (GBK, UTF-16) are
read with their Chinese intact, as programme and firm files are; a binary file is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.selection.factory import CALL_FILE

from huiqi.rules.errors import ProgrammeError
from huiqi.rules.loader import bundled_pack_dir, load_pack
from huiqi.rules.testing import load_fixtures
from huiqi.selection.callfile import load_call_file, parse_call_file
from huiqi.selection.errors import CallFileError
from huiqi.simulation.reform import ReformError, load_reform, parse_reform

REFORM = (
    "id: t\ntitle: {en: t, zh: 模型券提高比例}\nprogrammes:\n"
    "  shanghai.ai.model-voucher:\n    parameters: {rate: 60%}\n"
)


@pytest.mark.parametrize("encoding", ["gbk", "utf-16", "utf-8-sig"])
def test_a_call_file_in_a_chinese_encoding(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "call.yaml"
    path.write_bytes(CALL_FILE.encode(encoding))
    assert load_call_file(path) == parse_call_file(CALL_FILE)


@pytest.mark.parametrize("encoding", ["gbk", "utf-16"])
def test_a_reform_file_in_a_chinese_encoding(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "reform.yaml"
    path.write_bytes(REFORM.encode(encoding))
    assert load_reform(path) == parse_reform(REFORM, source=str(path))


def test_programme_fixtures_in_gbk(tmp_path: Path) -> None:
    original = bundled_pack_dir("shanghai") / "firms.fixtures.yaml"
    (tmp_path / original.name).write_bytes(original.read_text(encoding="utf-8").encode("gb18030"))
    assert load_fixtures(tmp_path) == load_fixtures(bundled_pack_dir("shanghai"))
    assert load_pack()  # the bundled pack itself still loads


def test_binary_files_are_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "call.yaml"
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)))
    with pytest.raises(CallFileError, match="zip"):
        load_call_file(path)
    with pytest.raises(ReformError, match="zip"):
        load_reform(path)
    (tmp_path / "firms.fixtures.yaml").write_bytes(b"%PDF-1.7\n" + bytes(range(256)))
    with pytest.raises(ProgrammeError, match="PDF"):
        load_fixtures(tmp_path)
