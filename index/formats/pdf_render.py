"""PDF pages for the page view of the browser chat: page sizes, one page as PNG, a page's text layer.

pdfium is not thread-safe, and the server renders pages on a thread pool while an upload may be
read: every call into it holds the one lock of ``index.formats.pdfium``, which extraction holds too.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from index.formats.pdfium import LOCK as PDFIUM_LOCK
from index.formats.pdfium import PdfDocument, PdfiumError, PdfPage
from qa.core.errors import UnreadableFile

MAX_WIDTH_PX = 4000  # a bound on the memory one request can ask for (4000 x 5200 RGB is ~60 MB)


def page_sizes(path: Path) -> tuple[tuple[float, float], ...]:
    """``(width, height)`` of each page in points, as displayed (its rotation applied)."""
    with PDFIUM_LOCK:
        pdf = _open(path)
        try:
            return tuple(tuple(pdf.get_page_size(i)) for i in range(len(pdf)))
        finally:
            pdf.close()


def render_page_png(path: Path, page: int, width_px: int) -> bytes:
    """Page ``page`` (1-based) of the PDF at ``path`` as a PNG ``width_px`` pixels wide."""
    if not 1 <= width_px <= MAX_WIDTH_PX:
        raise ValueError(f"width {width_px} px is outside 1..{MAX_WIDTH_PX}")
    with _page(path, page) as sheet:
        width, _ = sheet.get_size()
        # may_draw_forms: filled-in form fields are part of what the reader sees.
        image = sheet.render(scale=width_px / width, may_draw_forms=True).to_pil()
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def page_text(path: Path, page: int) -> str:
    """The text layer of page ``page`` (1-based) as pdfium reads it; empty for a scanned page."""
    with _page(path, page) as sheet:
        text_page = sheet.get_textpage()
        try:
            return text_page.get_text_bounded()
        finally:
            text_page.close()


@contextmanager
def _page(path: Path, page: int) -> Iterator[PdfPage]:
    """Page ``page`` (1-based) of the PDF at ``path``, open under the pdfium lock for the block."""
    with PDFIUM_LOCK:
        pdf = _open(path)
        try:
            if not 1 <= page <= len(pdf):
                raise ValueError(f"page {page} is outside 1..{len(pdf)}")
            sheet = pdf[page - 1]
            try:
                yield sheet
            finally:
                sheet.close()
        finally:
            pdf.close()


def _open(path: Path) -> PdfDocument:
    try:
        return PdfDocument(str(path))
    except PdfiumError as error:
        raise UnreadableFile(f"cannot open the PDF: {error}") from error
