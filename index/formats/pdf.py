"""PDF via pypdf: page texts joined by a blank line, with the span of each page recorded so a
citation can name its page. ``text[span.start:span.end]`` is exactly that page's extracted text."""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pypdf import PageObject, PasswordType, PdfReader

from index.formats import clip_title, short
from qa.core.errors import UnreadableFile
from qa.core.types import Document, PageSpan

PAGE_SEPARATOR = "\n\n"
# Placeholders some producers write when the author set no title (ReportLab: "untitled").
_PLACEHOLDER_TITLES = frozenset({"untitled", "untitled document", "no title"})


def load_pdf(path: Path, *, doc_id: str, source: str) -> Document:
    data = path.read_bytes()
    with _quiet():
        reader = _open(data)
        texts = [_page_text(page) for page in _pages(reader)]
        title = _metadata_title(reader) or path.stem
    if not any(text.strip() for text in texts):
        raise UnreadableFile("no extractable text (scanned PDF?)")
    spans: list[PageSpan] = []
    start = 0
    for number, text in enumerate(texts, start=1):
        spans.append(PageSpan(page=number, start=start, end=start + len(text)))
        start += len(text) + len(PAGE_SEPARATOR)
    return Document(doc_id=doc_id, title=title, source=source, text=PAGE_SEPARATOR.join(texts), pages=tuple(spans))


@contextmanager
def _quiet() -> Iterator[None]:
    """pypdf logs and warns about every irregularity it repairs; real PDFs have many."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _open(data: bytes) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except Exception as error:  # pypdf raises many types (PdfReadError, ValueError, KeyError...)
        raise UnreadableFile(f"corrupt PDF: {short(error)}") from error
    if encrypted:
        # Many PDFs are encrypted only against editing, with an empty password for reading.
        try:
            unlocked = reader.decrypt("") != PasswordType.NOT_DECRYPTED
        except Exception as error:
            raise UnreadableFile(f"encrypted PDF ({short(error)})") from error
        if not unlocked:
            raise UnreadableFile("encrypted PDF")
    return reader


def _pages(reader: PdfReader) -> list[PageObject]:
    try:
        return list(reader.pages)
    except Exception as error:
        raise UnreadableFile(f"corrupt PDF: {short(error)}") from error


def _page_text(page: PageObject) -> str:
    # One damaged page should not cost the whole document; it becomes an empty page.
    try:
        return page.extract_text() or ""
    except Exception:
        return ""


def _metadata_title(reader: PdfReader) -> str:
    try:
        metadata = reader.metadata
        title = metadata.title if metadata is not None else None
    except Exception:
        return ""
    text = clip_title(str(title)) if title else ""
    return "" if text.lower() in _PLACEHOLDER_TITLES else text
