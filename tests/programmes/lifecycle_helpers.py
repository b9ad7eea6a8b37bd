"""Texts shared by the lifecycle tests: next year's model voucher (30%, not 50%) and its test cases."""

from __future__ import annotations

from huiqi.rules.loader import bundled_pack_dir

MODEL = "shanghai.ai.model-voucher"
MODEL_FILE = bundled_pack_dir("shanghai") / "ai-model-voucher.programme.yaml"


def next_year(*, version: str = "2026.1", start: str = "2027-01-01", rate: str = "30%") -> str:
    """The bundled model voucher as another version from ``start`` at ``rate``."""
    text = MODEL_FILE.read_text(encoding="utf-8")
    assert 'version: "2025.1"' in text and "effective: {from: 2025-07-28}" in text and "value: 50%}" in text
    return (
        text.replace('version: "2025.1"', f'version: "{version}"', 1)
        .replace("effective: {from: 2025-07-28}", f"effective: {{from: {start}}}", 1)
        .replace("value: 50%}", f"value: {rate}}}", 1)
    )


def cases_for(amount: str = "300_000", on: str = "2027-03-01") -> str:
    """One case of the new version: a 1,000,000 contract at 30% is 300,000."""
    return f"""programme: {MODEL}
cases:
  - name: 1,000,000 x 30%
    "on": {on}
    firm: ai_adopter
    with:
      contracts: [{{id: M1, kind: model_use, counterparty: 某公司, value: 1_000_000, signed: 2027-01-05}}]
    expect: {{eligible: true, amount: {amount}}}
"""
