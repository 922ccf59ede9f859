"""Texts of numbered parts (slides, sheets, book chapters) joined into one document text, with the
span of each part recorded so a citation can name it."""

from __future__ import annotations

from collections.abc import Iterable

from qa.core.types import PageSpan

PAGE_SEPARATOR = "\n\n"


def join_pages(pages: Iterable[tuple[int, str]]) -> tuple[str, tuple[PageSpan, ...]]:
    """``(text, spans)`` of ``(page number, page text)`` pairs joined by blank lines.

    ``text[span.start:span.end]`` is exactly that page's text. A page without text gets no span
    and adds no separator, so its number is simply absent.
    """
    texts: list[str] = []
    spans: list[PageSpan] = []
    start = 0
    for number, text in pages:
        if not text:
            continue
        if texts:
            start += len(PAGE_SEPARATOR)
        spans.append(PageSpan(page=number, start=start, end=start + len(text)))
        texts.append(text)
        start += len(text)
    return PAGE_SEPARATOR.join(texts), tuple(spans)
