"""PDF via PDFium (pypdfium2): the text as the document reads, with the page and box of every word.

Each page's characters come with their boxes; ``pdf_lines`` groups them into words and lines,
``pdf_layout`` joins lines into paragraphs and drops running headers, footers and page numbers,
and marks table-of-contents and index pages. A page without a text layer is rendered and read
by Tesseract (``ocr``). ``Document.text`` is the cleaned text; pages and boxes point into it.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from index.formats import clip_title, ocr, short
from index.formats.pdf_layout import lay_out
from index.formats.pdf_lines import Char, Line, PageLines, lines_from_chars
from index.formats.pdfium import LOCK, PdfDocument, PdfiumError, PdfPage, PdfTextPage
from index.formats.pdfium import raw as pdfium
from qa.core.errors import UnreadableFile
from qa.core.types import Document

OCR_DPI = 300  # Tesseract reads 10-point text best at about 300 dpi; 200 costs as much time
MAX_OCR_PAGES = 50  # about 3 s a page on one core: a long scanned book is read in part
NO_OCR = f"scanned PDF: no text layer and OCR is not installed ({ocr.INSTALL_HINT})"
NO_OCR_PAGES = f"scanned, and OCR is not installed ({ocr.INSTALL_HINT})"
STAMP_WORDS = 12  # a scan stamped with a few words of text (a page number, a fax line) is a scan
# Placeholders some producers write when the author set no title (ReportLab: "untitled").
_PLACEHOLDER_TITLES = frozenset({"untitled", "untitled document", "no title"})
_MARKS = (pdfium.FPDF_PAGEOBJ_IMAGE, pdfium.FPDF_PAGEOBJ_PATH, pdfium.FPDF_PAGEOBJ_SHADING)
_PRECISION = 1000  # device units per point when mapping page space to the shown page
log = logging.getLogger(__name__)
Affine = tuple[float, float, float, float, float, float]


@dataclass(frozen=True, slots=True)
class PageSkip:
    """Pages whose text is missing from a document that was kept, and why."""

    pages: tuple[int, ...]
    reason: str

    @property
    def where(self) -> str:
        """ "page 3" or "pages 2, 4-6"."""
        ranges: list[list[int]] = []
        for page in self.pages:
            if ranges and page == ranges[-1][1] + 1:
                ranges[-1][1] = page
            else:
                ranges.append([page, page])
        text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)
        return f"page {text}" if len(self.pages) == 1 else f"pages {text}"


@dataclass(frozen=True, slots=True)
class PdfRead:
    document: Document
    skipped: tuple[PageSkip, ...] = ()


def load_pdf(path: Path, *, doc_id: str, source: str) -> Document:
    read = read_pdf(path, doc_id=doc_id, source=source)
    for skip in read.skipped:
        log.warning("%s: %s not indexed: %s", source, skip.where, skip.reason)
    return read.document


def read_pdf(path: Path, *, doc_id: str, source: str) -> PdfRead:
    """The document and the pages it lacks. UnreadableFile when no page has text."""
    data = path.read_bytes()
    with LOCK:
        pdf = _open(data)
        title = _metadata_title(pdf) or path.stem
        count = len(pdf)
    try:
        pages: list[PageLines] = []
        scanned: list[int] = []  # pictures of text: no text layer, or a stamp of a few words
        for index in range(count):
            with LOCK:  # a page at a time, so a page view waits for one page at most
                lines, scan = _read_page(pdf, index)
            pages.append(lines)
            if scan:
                scanned.append(index)
        skipped = _ocr_pages(pdf, pages, scanned)
    finally:
        with LOCK:
            pdf.close()
    unread = {page for skip in skipped for page in skip.pages}
    if not any(page.lines for number, page in enumerate(pages, start=1) if number not in unread):
        raise UnreadableFile(_why_empty(scanned, skipped))
    laid = lay_out(pages)
    if not laid.text.strip():
        raise UnreadableFile("no extractable text (only page headers and numbers)")
    document = Document(doc_id, title, source, laid.text, laid.pages, boxes=laid.boxes)
    return PdfRead(document, skipped)


def _open(data: bytes) -> PdfDocument:
    try:
        return PdfDocument(data)
    except PdfiumError as error:
        # Many PDFs are encrypted only against editing, with an empty password for reading;
        # PDFium opens those without one, so a password error means a real lock.
        if getattr(error, "err_code", None) == pdfium.FPDF_ERR_PASSWORD:
            raise UnreadableFile("encrypted PDF") from error
        if getattr(error, "err_code", None) == pdfium.FPDF_ERR_SECURITY:
            raise UnreadableFile(f"encrypted PDF ({short(error)})") from error
        raise UnreadableFile(f"corrupt PDF: {short(error)}") from error


def _read_page(pdf: PdfDocument, index: int) -> tuple[PageLines, bool]:
    """The lines of page ``index`` and whether it is a scan; one damaged page becomes an empty
    page rather than costing the whole document."""
    try:
        page = pdf[index]
    except Exception:
        return PageLines((), 612.0, 792.0), False
    try:
        width, height = page.get_size()
        textpage = page.get_textpage()
        try:
            lines = lines_from_chars(_chars(textpage, _to_shown(page, width, height)))
        finally:
            textpage.close()
        return PageLines(lines, width, height), _is_scan(page, lines, width * height)
    except Exception:
        return PageLines((), 612.0, 792.0), False
    finally:
        page.close()


def _is_scan(page: PdfPage, lines: tuple[Line, ...], area: float) -> bool:
    """No text but something drawn, or a few words over a picture that covers half the page."""
    words = sum(len(line.words) for line in lines)
    if words > STAMP_WORDS:
        return False
    if not words:
        return any(True for _ in page.get_objects(filter=_MARKS, max_depth=2))
    for image in page.get_objects(filter=(pdfium.FPDF_PAGEOBJ_IMAGE,), max_depth=2):
        left, bottom, right, top = image.get_bounds()
        if (right - left) * (top - bottom) >= 0.5 * area:
            return True
    return False


def _chars(textpage: PdfTextPage, to_shown: Affine) -> Iterator[Char]:
    raw = textpage.raw
    count = textpage.count_chars()
    if count <= 0:
        return
    codes = _codes(raw, count)
    box, font_size, rect = pdfium.FPDFText_GetLooseCharBox, pdfium.FPDFText_GetFontSize, pdfium.FS_RECTF()
    cx, cy, a, b, c, d = to_shown
    starts_word = True  # the font size is read once a word, from its first character
    i = 0
    while i < count:
        code = codes[i]
        at = i
        i += 1
        if 0xD800 <= code < 0xDC00 and i < count and 0xDC00 <= codes[i] < 0xE000:
            code = 0x10000 + ((code - 0xD800) << 10) + (codes[i] - 0xDC00)  # a character beyond the BMP
            i += 1
        if 0xD800 <= code < 0xE000 or code in (0, 0xFFFF):
            continue  # a lone half or a non-character: nothing to show
        text = "\x02" if code == 0xFFFE else chr(code)  # both mark a hyphenated line end
        if text.isspace():
            starts_word = True
            yield (text, 0.0, 0.0, 0.0, 0.0, 0.0)  # ends a word; its box is not used
            continue
        box(raw, at, rect)
        left, top, right, bottom = rect.left, rect.top, rect.right, rect.bottom
        xa, ya = cx + a * left + b * top, cy + c * left + d * top
        xb, yb = cx + a * right + b * bottom, cy + c * right + d * bottom
        size = font_size(raw, at) if starts_word else 0.0
        starts_word = False
        yield (text, min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb), size)


def _codes(raw: object, count: int) -> list[int]:
    """The UTF-16 code units of a text page's characters, in one call when PDFium gives one unit
    a character (it nearly always does), else one call a character."""
    buffer = (ctypes.c_ushort * (count + 1))()
    written = pdfium.FPDFText_GetText(raw, 0, count, buffer)
    if written == count + 1:
        return list(buffer[:count])
    return [pdfium.FPDFText_GetUnicode(raw, i) for i in range(count)]


def _to_shown(page: PdfPage, width: float, height: float) -> Affine:
    """Page space (origin bottom-left, before /Rotate and the crop box) to points on the page as
    shown (origin top-left), by the affine map PDFium itself renders with:
    ``x' = cx + a x + b y``, ``y' = cy + c x + d y``."""
    size_x, size_y = round(width * _PRECISION), round(height * _PRECISION)
    x, y = ctypes.c_int(), ctypes.c_int()

    def device(px: float, py: float) -> tuple[float, float]:
        pdfium.FPDF_PageToDevice(page.raw, 0, 0, size_x, size_y, 0, px, py, x, y)
        return x.value / _PRECISION, y.value / _PRECISION

    (cx, cy), (ax, ay), (bx, by) = device(0, 0), device(1000, 0), device(0, 1000)
    return (cx, cy, (ax - cx) / 1000, (bx - cx) / 1000, (ay - cy) / 1000, (by - cy) / 1000)


def _ocr_pages(pdf: PdfDocument, pages: list[PageLines], scanned: list[int]) -> tuple[PageSkip, ...]:
    """Reads the scanned pages into ``pages`` through OCR; the pages it could not read, which
    are left empty (a stamp on them is not the page's text)."""
    if not scanned:
        return ()
    if ocr.tesseract() is None:
        skipped = [_skip(scanned, NO_OCR_PAGES)]
    else:
        skipped = [skip for index in scanned[:MAX_OCR_PAGES] if (skip := _ocr_page(pdf, pages, index))]
        if len(scanned) > MAX_OCR_PAGES:
            reason = f"scanned, and OCR reads at most {MAX_OCR_PAGES} pages of a PDF"
            skipped.append(_skip(scanned[MAX_OCR_PAGES:], reason))
    for skip in skipped:
        for number in skip.pages:
            pages[number - 1] = PageLines((), pages[number - 1].width, pages[number - 1].height)
    return tuple(skipped)


def _ocr_page(pdf: PdfDocument, pages: list[PageLines], index: int) -> PageSkip | None:
    try:
        with LOCK:
            page = pdf[index]
            try:
                image, width, height = _render(page)
            finally:
                page.close()
    except Exception as error:  # PDFium fails on some damaged pages it could still read text from
        return _skip([index], f"scanned, and the page could not be rendered for OCR ({short(error)})")
    try:
        lines = ocr.read_image(image, OCR_DPI)  # minutes of work for a book: never under the lock
    except UnreadableFile as error:
        return _skip([index], str(error))
    pages[index] = PageLines(lines, width, height)
    return None


def _render(page: PdfPage) -> tuple[bytes, float, float]:
    """The page as a grey PGM image at ``OCR_DPI`` and the page's size in points. The image is
    ``OCR_DPI / 72`` pixels a point, so Tesseract's boxes are points after that scale."""
    width, height = page.get_size()
    bitmap = page.render(scale=OCR_DPI / 72, grayscale=True)
    try:
        buffer, stride, pixels, rows = bytes(bitmap.buffer), bitmap.stride, bitmap.width, bitmap.height
        image = b"P5\n%d %d\n255\n" % (pixels, rows)
        image += b"".join(buffer[row * stride : row * stride + pixels] for row in range(rows))
    finally:
        bitmap.close()
    return image, width, height


def _skip(indexes: list[int], reason: str) -> PageSkip:
    return PageSkip(tuple(i + 1 for i in indexes), reason)


def _why_empty(scanned: list[int], skipped: tuple[PageSkip, ...]) -> str:
    if not scanned:
        return "no extractable text (scanned PDF?)"
    if skipped and skipped[0].reason == NO_OCR_PAGES:
        return NO_OCR
    if skipped:
        return f"scanned PDF: {skipped[0].reason}"
    return "no extractable text (OCR found none)"


def _metadata_title(pdf: PdfDocument) -> str:
    try:
        title = pdf.get_metadata_value("Title")
    except Exception:
        return ""
    text = clip_title(str(title)) if title else ""
    return "" if text.lower() in _PLACEHOLDER_TITLES else text
