"""A programme's page and its API document give the file's notes in the reader's language (issue 14)."""

from __future__ import annotations

from .conftest import Web

GROWTH_ZH = "写作倍数，使检验为乘积"
GROWTH_EN = "written as a factor so that the test is a product"


def test_the_zh_page_shows_the_zh_note_and_the_en_page_the_en_one(sqlite_web: Web) -> None:
    anon = sqlite_web.client()
    zh = anon.get("/programmes/shanghai.hq.designation", params={"lang": "zh"})
    en = anon.get("/programmes/shanghai.hq.designation", params={"lang": "en"})
    assert zh.status_code == en.status_code == 200
    assert GROWTH_ZH in zh.text and GROWTH_EN not in zh.text
    assert GROWTH_EN in en.text and GROWTH_ZH not in en.text
    assert "认定条件依黄浦区和浦东新区" in zh.text  # the legal basis's note


def test_the_api_document_gives_the_note_in_the_language_asked_for(sqlite_web: Web) -> None:
    anon = sqlite_web.client()
    zh = anon.get("/api/v1/programmes/shanghai.ai.compute-voucher", params={"lang": "zh"}).json()
    en = anon.get("/api/v1/programmes/shanghai.ai.compute-voucher", params={"lang": "en"}).json()
    assert zh["amount"]["note"].startswith("短期租赁按短期租赁比例")
    assert en["amount"]["note"].startswith("Short rentals at the short-rental rate")
    assert {p["name"]: p["note"] for p in zh["parameters"]}["small_max_employees"] == (
        "措施未界定“小”；本文件取从业人员不超过100人的企业。"
    )
