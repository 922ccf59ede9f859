"""Excel .xlsx via openpyxl: each sheet's rows as "header: value" lines (index.formats.rows).

The workbook is streamed (``read_only``) and formulas give the value Excel last computed
(``data_only``; a formula never computed, e.g. written by a script, has none and is left out).
Each sheet with values starts with its name; the sheet is the page (1-based position among the
workbook's sheets, chart sheets included), and ``text[span.start:span.end]`` is exactly that
sheet's text. Hidden sheets are read too.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl

from index.formats import clip_title, short
from index.formats.archive import open_zip
from index.formats.pages import join_pages
from index.formats.rows import ROW_SEPARATOR, RowBudget, rows_text
from qa.core.errors import QAError, UnreadableFile
from qa.core.types import Document

EXCEL_MAX_ROWS = 1_048_576


def load_xlsx(path: Path, *, doc_id: str, source: str) -> Document:
    data = path.read_bytes()
    open_zip(data, "XLSX").close()
    budget = RowBudget("XLSX")
    sheets: list[tuple[int, str]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about every extension it does not read
        try:
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                core_title = workbook.properties.title or ""
                for number, name in enumerate(workbook.sheetnames, start=1):
                    if text := _sheet_text(workbook[name], name, budget):
                        sheets.append((number, text))
            finally:
                workbook.close()
        except QAError:
            raise
        except Exception as error:  # zipfile, XML and openpyxl errors alike mean a damaged file
            raise UnreadableFile(f"corrupt XLSX: {short(error)}") from error
    text, spans = join_pages(sheets)
    if not text:
        raise UnreadableFile("no text in XLSX (empty workbook)")
    return Document(doc_id=doc_id, title=clip_title(core_title) or path.stem, source=source, text=text, pages=spans)


def _sheet_text(sheet: Any, name: str, budget: RowBudget) -> str:
    if not hasattr(sheet, "iter_rows"):
        return ""  # a chart sheet: no cells
    # The stored dimension may be wrong or hostile (A1:XFD1048576): without it every row is only
    # as wide as its last cell, and missing rows cost nothing but their count.
    sheet.reset_dimensions()
    body = rows_text(_rows(sheet, name), budget)
    return f"{' '.join(name.split())}{ROW_SEPARATOR}{body}" if body else ""


def _rows(sheet: Any, name: str) -> Iterator[tuple[object, ...]]:
    # Rows missing from the file are yielded empty; a row numbered past Excel's last one would
    # cost a loop through all those missing rows.
    for count, row in enumerate(sheet.iter_rows(values_only=True), start=1):
        if count > EXCEL_MAX_ROWS:
            raise UnreadableFile(f"corrupt XLSX: sheet {name!r} has rows past Excel's last row ({EXCEL_MAX_ROWS:,})")
        yield row
