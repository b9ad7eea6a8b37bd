"""Certificates: valid, altered (content, bytes, signature line), revoked, unknown key; keys from settings."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from tests.dbfixtures import Db
from typer.testing import CliRunner

from huiqi.certificates import pdf
from huiqi.certificates import service as certs
from huiqi.certificates.errors import AlreadyRevoked, SigningKeyMissing
from huiqi.certificates.keys import CertificateSettings, from_seed, new_seed, signing_key

KEY = from_seed(base64.b64encode(bytes(range(32))).decode())
CONTENT = {
    "firm": {
        "name_zh": "上海芯测科技有限公司",
        "name_en": "Shanghai Xince Technology Co., Ltd.",
        "uscc": "91310115MA1K3BTP2B",
    },
    "programme": {
        "id": "shanghai.hq.designation",
        "name_zh": "创新型企业总部认定",
        "name_en": "Recognition as an innovative enterprise headquarters",
    },
    "batch": {"zh": "2023年第一批", "en": "2023, first batch"},
    "sector": {"zh": "集成电路", "en": "Integrated circuits"},
    "date": "2023-12-05",
    "call_id": "hq-2023-1",
    "issuer": {"zh": "上海市发展和改革委员会", "en": "Shanghai Development and Reform Commission"},
}


def _issue(db: Db, serial: str = "hq-2023-1-0001") -> bytes:
    with db.session() as s:
        cert = certs.issue(
            session=s, serial=serial, subject="designation:x", content=CONTENT, key=KEY, actor="t"
        )
        s.commit()
        return cert.pdf


def test_a_certificate_verifies_and_carries_its_content(db: Db) -> None:
    data = _issue(db)
    assert data.startswith(b"%PDF") and b"%HUIQI-SIGNATURE v1 hq-2023-1-0001 " in data
    payload, _, why = pdf.embedded(pdf.split(data).body)
    assert why is None and payload is not None and payload["firm"]["uscc"] == "91310115MA1K3BTP2B"
    assert payload["verify_url"].endswith("/hq-2023-1-0001")
    with db.session() as s:
        result = certs.verify(session=s, data=data)
    assert result.status == "valid", result.findings
    assert "上海芯测科技有限公司" in result.text()


def test_every_single_byte_change_is_caught(db: Db) -> None:
    data = _issue(db)
    with db.session() as s:
        for offset in range(0, len(data), max(1, len(data) // 60)):
            altered = bytearray(data)
            altered[offset] ^= 0x20
            result = certs.verify(session=s, data=bytes(altered))
            assert result.status == "altered", (offset, result)


def test_an_edited_name_is_reported_as_the_field_that_changed(db: Db) -> None:
    data = _issue(db)
    body = pdf.split(data).body
    payload, sig, _ = pdf.embedded(body)
    assert payload is not None and sig is not None
    forged = dict(payload, firm={**payload["firm"], "name_zh": "上海冒名科技有限公司"})
    old = base64.b64encode(pdf.canonical(payload))
    new = base64.b64encode(pdf.canonical(forged))
    assert old in data
    with db.session() as s:
        result = certs.verify(session=s, data=data.replace(old, new))
    assert result.status == "altered"
    assert any("firm.name_zh" in f and "上海冒名科技有限公司" in f for f in result.findings), result.findings
    assert any("signed content does not match" in f for f in result.findings)


def test_revoked_and_unknown(db: Db) -> None:
    data = _issue(db)
    with db.session() as s:
        certs.revoke(session=s, serial="hq-2023-1-0001", reason="left Shanghai", actor="t")
        with pytest.raises(AlreadyRevoked):
            certs.revoke(session=s, serial="hq-2023-1-0001", reason="again", actor="t")
        s.commit()
        result = certs.verify(session=s, data=data)
        assert result.status == "revoked" and "left Shanghai" in result.findings[0]
        stranger = from_seed(new_seed())
        body = pdf.render({**CONTENT, "serial": "X-1", "key_id": stranger.key_id, "verify_url": "u"}, b"sig")
        foreign = body + pdf.signature_line("X-1", stranger.key_id, stranger.private.sign(body))
        assert certs.verify(session=s, data=foreign).status == "unknown"
        assert certs.verify(session=s, data=b"not a pdf").status == "unknown"


def test_keys_come_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed = new_seed()
    assert signing_key(CertificateSettings(signing_key=seed)).key_id == from_seed(seed).key_id
    path = tmp_path / "k" / "signing.key"
    first = signing_key(CertificateSettings(key_file=path))
    assert path.exists() and oct(path.stat().st_mode & 0o777) == "0o600"
    assert signing_key(CertificateSettings(key_file=path)).key_id == first.key_id
    from huiqi.config import get_settings

    monkeypatch.setenv("HUIQI_ENVIRONMENT", "production")
    monkeypatch.setenv("HUIQI_SECRET_KEY", "x" * 48)
    get_settings.cache_clear()
    try:
        with pytest.raises(SigningKeyMissing):
            signing_key(CertificateSettings(key_file=tmp_path / "none.key"))
    finally:
        get_settings.cache_clear()


def test_cli_verify_answers_valid_or_altered(
    sqlite_db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huiqi.cli.main import app

    data = _issue(sqlite_db)
    monkeypatch.setenv("HUIQI_DATABASE_URL", sqlite_db.url)
    from huiqi.config import get_settings

    get_settings.cache_clear()
    good = tmp_path / "c.pdf"
    good.write_bytes(data)
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    runner = CliRunner()
    try:
        ok = runner.invoke(app, ["certificates", "verify", str(good)])
        assert ok.exit_code == 0 and ok.output.startswith("valid"), ok.output
        no = runner.invoke(app, ["certificates", "verify", str(bad)])
        assert no.exit_code == 1 and no.output.startswith("altered") and "offset 100" in no.output, no.output
        missing = runner.invoke(app, ["selection", "validate", str(tmp_path / "none.yaml")])
        assert missing.exit_code == 2 and "cannot read the file" in missing.output
    finally:
        get_settings.cache_clear()
