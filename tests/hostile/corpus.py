"""The hostile-input corpus (issue 13): files and values an officer's real files and an attacker produce, each
with the outcome huiqi must give. Generated here from the bundled examples, so every case is exactly the
bundled file but for the one thing it tests.

``PROGRAMMES``: programme files (``huiqi programmes validate``; ``POST /api/v1/programmes/validate``).
``FIRMS``: firm profile files (``huiqi check``; the calculator and ``PUT /api/v1/firms/{uscc}``).
An ``expect`` of ``None`` means accepted; otherwise the refusal must contain that text.
"""

from __future__ import annotations

import codecs
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PROGRAMME = ROOT / "src/huiqi/programmes/shanghai/hq-startup-grant.programme.yaml"
FIRM = ROOT / "src/huiqi/firms/examples/small-ai-firm.json"
BOUND = "beyond the largest number huiqi accepts"


@dataclass(frozen=True)
class Case:
    name: str
    filename: str
    data: bytes
    #: what the refusal must say (None: accepted)
    expect: str | None
    #: the same case as a JSON body for the API (None: it is about files, not JSON)
    body: Any = None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")


def programme_text() -> str:
    return PROGRAMME.read_text(encoding="utf-8")


def firm_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIRM.read_text(encoding="utf-8"))
    return data


def billion_laughs() -> bytes:
    """Nine levels of nine aliases: 9^9 values from a few hundred bytes."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return ("\n".join(lines) + "\n").encode()


def xlsx_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
    return buf.getvalue()


def _programme(name: str, old: str, new: str, expect: str | None) -> Case:
    text = programme_text()
    assert text.count(old) >= 1, old
    return Case(name, f"{name}.programme.yaml", text.replace(old, new, 1).encode("utf-8"), expect)


def _encoded(name: str, text: str, encoding: str, suffix: str, expect: str | None = None) -> Case:
    data = text.encode(encoding)
    if encoding == "utf-8-sig":
        assert data.startswith(codecs.BOM_UTF8)
    return Case(name, f"{name}{suffix}", data, expect)


def _firm(name: str, expect: str | None, **changes: Any) -> Case:
    data = firm_data()
    for key, value in changes.items():
        if key == "contract_value":
            data["contracts"][0]["value"] = value
        else:
            data[key] = value
    return Case(name, f"{name}.json", json.dumps(data, ensure_ascii=False).encode(), expect, body=data)


def _token(name: str, field: str, token: str, expect: str) -> Case:
    """The example firm with ``field`` set to a raw JSON token (what json.dumps would never write)."""
    data = firm_data()
    data[field] = "@TOKEN@"
    raw = json.dumps(data, ensure_ascii=False, indent=2).replace('"@TOKEN@"', token)
    return Case(name, f"{name}.json", raw.encode("utf-8"), expect)


PROGRAMMES: list[Case] = [
    Case("billion-laughs", "laughs.programme.yaml", billion_laughs(), "more than 50,000 values"),
    Case("deep-list", "deep.programme.yaml", b"a: " + b"[" * 10_000 + b"]" * 10_000, "nested more than 64"),
    Case("deep-block-list", "deepb.programme.yaml", b"a:\n" + b"- " * 10_000 + b"x\n", "nested more than 64"),
    _programme("impossible-date", "from: 2023-03-01", "from: 2023-02-30", "'2023-02-30' is not a date"),
    _programme("ancient-date", "from: 2023-03-01", "from: 1066-10-14", "not a plausible date"),
    _programme("huge-integer", "100_000_000", "9" * 5000, "an integer of 5000 digits"),
    _programme("amount-1e400", "100_000_000", '"1e400"', BOUND),
    _programme("amount-1e20", "100_000_000", "1E+20", BOUND),
    _programme("lone-surrogate", "zh: 实缴资本超过1亿元", 'zh: "\\ud800"', "lone surrogate"),
    Case("too-large", "big.programme.yaml", b"# " + b"x" * 300_000 + b"\n", "larger than 262,144 bytes"),
    Case("xlsx-renamed", "x.programme.yaml", xlsx_bytes(), "zip archive"),
    Case("binary", "bin.programme.yaml", bytes(range(256)) * 8, "not"),
    _encoded("gbk", programme_text(), "gb18030", ".programme.yaml"),
    _encoded("utf16", programme_text(), "utf-16", ".programme.yaml"),
    _encoded("bom", programme_text(), "utf-8-sig", ".programme.yaml"),
]

_FIRM_JSON = json.dumps(firm_data(), ensure_ascii=False, indent=2)

FIRMS: list[Case] = [
    _encoded("firm-gbk", _FIRM_JSON, "gbk", ".json"),
    _encoded("firm-gb18030", _FIRM_JSON, "gb18030", ".json"),
    _encoded("firm-utf16", _FIRM_JSON, "utf-16", ".json"),
    _encoded("firm-utf16be", _FIRM_JSON, "utf-16-be", ".json"),
    _encoded("firm-bom", _FIRM_JSON, "utf-8-sig", ".json"),
    _firm("amount-27-digits", BOUND, paid_in_capital="9" * 27),
    _firm("amount-1e20", BOUND, paid_in_capital="1E+20"),
    _firm("amount-1e400", BOUND, total_assets="1e400"),
    _firm("amount-tiny", "more than 20 decimal places", total_assets="1e-400"),
    _firm("contract-58-digits", BOUND, contract_value="3" + "0" * 57),
    _firm("registered-2099", "more than two years in the future", registration_date="2099-01-01"),
    _firm("registered-1066", "not a plausible date", registration_date="1066-10-14"),
    _firm("impossible-date", "2023-02-30", registration_date="2023-02-30"),
    _firm("employees-huge", "1000000000000000", employees=10**16),
    _token("deep-json", "district", "[" * 3000 + "]" * 3000, "nested more than 64 levels deep"),
    _token("integer-5000-digits", "employees", "9" * 5000, "an integer of 5000 digits"),
    _token("lone-surrogate", "name_zh", '"\\ud800"', "lone surrogate"),
    _token("nan", "employees", "NaN", "NaN is not a number JSON allows"),
    Case("firm-laughs", "laughs.yaml", billion_laughs(), "more than 50,000 values"),
    Case("firm-xlsx-renamed", "firm.json", xlsx_bytes(), "zip archive"),
    Case("firm-binary", "firm.json", bytes(range(256)) * 8, "not"),
]
