"""HTML: the page's text as paragraphs separated by blank lines (``index.formats.html_text``).

The page is read by a walk over its elements rather than by a main-text extractor: trafilatura,
used before, dropped the headings of FAQ pages (the questions), put inline ``<code>`` and ``<kbd>``
runs on lines of their own and kept the source's line wrapping, so sentences followed the HTML
layout. Navigation and site furniture are dropped by simple rules (``html_boilerplate``).
EPUB chapters (``chapter_text``) are read the same way, keeping their headers and asides.
"""

from __future__ import annotations

import re
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

from index.formats import clip_title
from index.formats.html_text import page_text
from index.formats.text import decode_text
from qa.core.errors import UnreadableFile
from qa.core.types import Document

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


def load_html(path: Path, *, doc_id: str, source: str) -> Document:
    html = _decode(path.read_bytes())
    if not html.strip():
        raise UnreadableFile("empty file")
    tree = LexborHTMLParser(html)
    text = page_text(tree)
    if not text:
        raise UnreadableFile("no text in HTML")
    return Document(doc_id=doc_id, title=_title(tree) or path.stem, source=source, text=text)


def chapter_text(data: bytes) -> tuple[str, str]:
    """``(title, text)`` of a book chapter's (X)HTML (an EPUB part): all its text, headings and
    paragraphs as blocks separated by blank lines; a chapter has no site around it, so only its
    table of contents (``<nav>``, link lists) is dropped. Either may be ""."""
    tree = LexborHTMLParser(_decode(data))
    return _title(tree), page_text(tree, book=True)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    declared = _META_CHARSET.search(data[:4096])
    if declared:
        try:
            return data.decode(declared.group(1).decode("ascii"))
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_text(data)


def _title(tree: LexborHTMLParser) -> str:
    node = tree.css_first("title")
    if node is not None and (title := clip_title(node.text())):
        return title
    meta = tree.css_first('meta[property="og:title"], meta[name="title"]')
    if meta is not None and (title := clip_title(meta.attributes.get("content") or "")):
        return title
    for selector in ("h1", "h2, h3, h4, h5, h6"):
        node = tree.css_first(selector)
        if node is not None and (title := clip_title(node.text())):
            return title
    return ""
