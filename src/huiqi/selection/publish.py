"""The designated list for publication, in Chinese and English, as CSV (UTF-8 with BOM, so spreadsheet
programs read the Chinese) and JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from huiqi.selection.callfile import CallFile
from huiqi.selection.models import Designation
from huiqi.selection.service import COLUMNS, published_rows

LANGS = ("zh", "en")


def render_csv(designations: Sequence[Designation], cf: CallFile, lang: str) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS[lang], lineterminator="\n")
    writer.writeheader()
    writer.writerows(published_rows(designations, cf, lang))
    return buf.getvalue()


def render_json(designations: Sequence[Designation], cf: CallFile, lang: str) -> str:
    doc = {
        "call": cf.call,
        "programme": cf.programme,
        "batch": cf.batch.zh if lang == "zh" else cf.batch.en,
        "date": cf.date.isoformat(),
        "designated": published_rows(designations, cf, lang),
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def publish(designations: Sequence[Designation], cf: CallFile, out_dir: Path) -> list[Path]:
    """Write designated.{zh,en}.{csv,json}; the list is ordered by sector, then rank in the sector."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for lang in LANGS:
        csv_path = out_dir / f"designated.{lang}.csv"
        csv_path.write_text("\ufeff" + render_csv(designations, cf, lang), encoding="utf-8")
        json_path = out_dir / f"designated.{lang}.json"
        json_path.write_text(render_json(designations, cf, lang), encoding="utf-8")
        written += [csv_path, json_path]
    return written
