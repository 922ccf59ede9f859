"""PowerPoint .pptx via python-pptx: each slide's text and speaker notes, the slide number as page.

A slide's title comes first, then its other shapes in the order the slide stores them (text
boxes, tables and the shapes inside groups), then its notes. Every paragraph and every table row
is its own paragraph of the text, separated by blank lines, because bullet points seldom end
with a full stop and would otherwise run together into one sentence. ``text[span.start:span.end]``
is exactly that slide's text; slides without text get no span.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from pathlib import Path

import pptx
from pptx.shapes.base import BaseShape
from pptx.shapes.graphfrm import GraphicFrame
from pptx.shapes.group import GroupShape
from pptx.slide import Slide
from pptx.table import Table

from index.formats import clip_title, short
from index.formats.archive import open_zip
from index.formats.pages import join_pages
from qa.core.errors import UnreadableFile
from qa.core.types import Document

PARAGRAPH_SEPARATOR = "\n\n"


def load_pptx(path: Path, *, doc_id: str, source: str) -> Document:
    data = path.read_bytes()
    open_zip(data, "PPTX").close()
    try:
        presentation = pptx.Presentation(io.BytesIO(data))
        slides = [PARAGRAPH_SEPARATOR.join(_slide_paragraphs(slide)) for slide in presentation.slides]
        core_title = presentation.core_properties.title or ""
    except Exception as error:  # zipfile, lxml and python-pptx errors alike mean a damaged file
        raise UnreadableFile(f"corrupt PPTX: {short(error)}") from error
    text, spans = join_pages(enumerate(slides, start=1))
    if not text:
        raise UnreadableFile("no text in PPTX")
    title = clip_title(core_title) or clip_title(text.split("\n", 1)[0]) or path.stem
    return Document(doc_id=doc_id, title=title, source=source, text=text, pages=spans)


def _slide_paragraphs(slide: Slide) -> Iterator[str]:
    title = slide.shapes.title
    if title is not None:
        yield from _shape_paragraphs(title)
    for shape in slide.shapes:
        if title is None or shape.shape_id != title.shape_id:
            yield from _shape_paragraphs(shape)
    if slide.has_notes_slide and (notes := slide.notes_slide.notes_text_frame) is not None:
        yield from _paragraphs(paragraph.text for paragraph in notes.paragraphs)


def _shape_paragraphs(shape: BaseShape) -> Iterator[str]:
    if isinstance(shape, GroupShape):
        for inner in shape.shapes:
            yield from _shape_paragraphs(inner)
    elif isinstance(shape, GraphicFrame) and shape.has_table:
        yield from _table_rows(shape.table)
    elif shape.has_text_frame:
        yield from _paragraphs(paragraph.text for paragraph in shape.text_frame.paragraphs)  # type: ignore[attr-defined]


def _table_rows(table: Table) -> Iterator[str]:
    for row in table.rows:
        # A merged cell is stored once, at its origin; the cells it spans are empty placeholders.
        cells = (" ".join(cell.text.split()) for cell in row.cells if not cell.is_spanned)
        if line := " | ".join(text for text in cells if text):
            yield line


def _paragraphs(texts: Iterable[str]) -> Iterator[str]:
    # Line breaks inside a paragraph come as "\v"; like any run of whitespace they become a space.
    for text in texts:
        if line := " ".join(text.split()):
            yield line
