"""The officer's programme upload page reads a file as ``huiqi programmes validate`` does: GBK, UTF-16 or a
BOM as saved by a Chinese Windows editor is read, and a workbook, binary or oversize file is refused naming
why. It decoded UTF-8 only and answered anything else with a refusal that listed no reason."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hostile.corpus import programme_text, xlsx_bytes
from hostile.test_api import web
from web.conftest import Web

__all__ = ["web"]  # the fixture


@pytest.fixture(scope="module")
def officer(web: tuple[Web, Path]) -> TestClient:
    return web[0].client("admin")


def _validate(client: TestClient, data: bytes) -> tuple[int, str]:
    files = {"file": ("策略 1.programme.yaml", data, "application/octet-stream")}
    r = client.post("/officer/programmes/validate", files=files, headers={"Accept-Language": "en"})
    return r.status_code, html.unescape(re.sub(r"<[^>]+>", " ", r.text))


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030", "utf-16", "utf-8-sig"])
def test_a_programme_in_a_chinese_encoding_is_read(officer: TestClient, encoding: str) -> None:
    status, text = _validate(officer, programme_text().encode(encoding))
    assert status == 200, text[-1500:]
    assert "shanghai.hq.startup-grant" in text


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (xlsx_bytes(), "this is a zip archive"),
        (bytes(range(256)) * 4, "this is not a text file"),
        (programme_text().encode() + b"#" + b"x" * 300_000, "the file is larger than 262,144 bytes"),
        (("# " + "汉" * 400_000).encode(), "the file is larger than 262,144 bytes"),
    ],
    ids=["xlsx", "binary", "large", "large-cut-in-a-character"],
)
def test_a_file_that_is_not_a_programme_is_refused_naming_why(
    officer: TestClient, data: bytes, reason: str
) -> None:
    status, text = _validate(officer, data)
    assert status == 422
    assert f"策略 1.programme.yaml: {reason}" in text
