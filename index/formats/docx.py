"""Word .docx via python-docx: body paragraphs and tables in document order, one line each
(a table row is one line, its cells separated by " | "). Headers and footers are left out."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph

from index.formats import clip_title, short
from qa.core.errors import UnreadableFile
from qa.core.types import Document


def load_docx(path: Path, *, doc_id: str, source: str) -> Document:
    data = path.read_bytes()
    try:
        document = docx.Document(io.BytesIO(data))
        lines = list(_lines(document.iter_inner_content()))
        core_title = document.core_properties.title or ""
    except Exception as error:  # zipfile, lxml and python-docx errors alike mean a damaged file
        raise UnreadableFile(f"corrupt DOCX: {short(error)}") from error
    if not lines:
        raise UnreadableFile("no text in DOCX")
    title = clip_title(core_title) or clip_title(lines[0]) or path.stem
    return Document(doc_id=doc_id, title=title, source=source, text="\n".join(lines))


def _lines(blocks: Iterator[Paragraph | Table]) -> Iterator[str]:
    for block in blocks:
        if isinstance(block, Paragraph):
            if block.text.strip():
                yield block.text
        else:
            for row in block.rows:
                cells: list[str] = []
                seen: set[int] = set()
                for cell in row.cells:
                    # A merged cell is returned once per grid column it spans.
                    if id(cell._tc) in seen:
                        continue
                    seen.add(id(cell._tc))
                    text = " ".join(cell.text.split())
                    if text:
                        cells.append(text)
                if cells:
                    yield " | ".join(cells)
