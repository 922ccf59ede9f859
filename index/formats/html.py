"""HTML: the main text only, as paragraphs separated by blank lines.

trafilatura finds the article and drops boilerplate (navigation, headers, footers, comments).
It returns nothing for some pages (e.g. no recognisable main content); we then fall back to all
visible text of the page minus the usual boilerplate elements, parsed with selectolax.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import trafilatura
from lxml import etree
from selectolax.lexbor import LexborHTMLParser, LexborNode

from index.formats import clip_title
from index.formats.text import decode_text
from qa.core.errors import UnreadableFile
from qa.core.types import Document

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_DROP = "script, style, noscript, template, svg, iframe, head, nav, header, footer, aside, form"
_BLOCKS = (
    "address, article, blockquote, br, dd, div, dl, dt, figcaption, figure, h1, h2, h3, h4, h5, h6, hr, "
    "li, main, ol, p, pre, section, table, tr, ul"
)
_CELLS = "td, th"
_XML_BLOCKS = frozenset({"lb", "p", "head", "quote", "code", "list", "item", "table", "row", "cell"})
# A character that never occurs in real text marks paragraph breaks in the fallback, so that
# newlines written in the HTML source (which a browser shows as spaces) are not taken for them.
_BREAK = "\ue000"


def load_html(path: Path, *, doc_id: str, source: str) -> Document:
    html = _decode(path.read_bytes())
    if not html.strip():
        raise UnreadableFile("empty file")
    tree = LexborHTMLParser(html)
    title = _title(tree) or path.stem
    text = _main_text(html) or _visible_text(tree)
    if not text:
        raise UnreadableFile("no text in HTML")
    return Document(doc_id=doc_id, title=title, source=source, text=text)


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


def _main_text(html: str) -> str:
    # The XML output keeps the block structure (the plain-text output keeps the source's line
    # wrapping inside paragraphs, so blocks cannot be told from wrapped lines there).
    logger = logging.getLogger("trafilatura")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # it logs a warning for every page without main content
    try:
        xml = trafilatura.extract(
            html, include_comments=False, include_tables=True, favor_recall=True, output_format="xml"
        )
    finally:
        logger.setLevel(level)
    if not xml:
        return ""
    main = etree.fromstring(xml.encode("utf-8")).find("main")
    if main is None:
        return ""
    return "\n\n".join(block for block in _blocks(main) if block)


def _blocks(main: etree._Element) -> Iterator[str]:
    """Paragraphs of trafilatura's XML: a list or a table is one block, an item or a row one line."""
    for child in main:
        if child.tag == "list":
            yield "\n".join(f"- {text}" for item in child.findall("item") if (text := _inline(item)))
        elif child.tag == "table":
            rows = (_row(row) for row in child.findall("row"))
            yield "\n".join(row for row in rows if row)
        else:
            yield _inline(child)
        if child.tail and child.tail.strip():
            yield " ".join(child.tail.split())


def _row(row: etree._Element) -> str:
    return " | ".join(text for cell in row.findall("cell") if (text := _inline(cell)))


def _inline(element: etree._Element) -> str:
    """Text of an element with whitespace collapsed as a browser would; line breaks and nested
    blocks (a list inside a list item) start new lines instead of running words together."""
    parts: list[str] = []
    for event, node in etree.iterwalk(element, events=("start", "end")):
        breaks = node.tag in _XML_BLOCKS and node is not element
        if event == "start":
            parts.append("\n" if breaks else "")
            parts.append(node.text or "")
        else:
            parts.append("\n" if breaks else "")
            if node is not element:
                parts.append(node.tail or "")
    lines = (" ".join(line.split()) for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


def _visible_text(tree: LexborHTMLParser) -> str:
    for node in tree.css(_DROP):
        node.decompose()
    for node in tree.css(_BLOCKS):
        node.insert_before(_BREAK)
        node.insert_after(_BREAK)
    for node in tree.css(_CELLS):
        node.insert_before(" ")
    root: LexborNode | None = tree.body or tree.root
    if root is None:
        return ""
    raw = root.text(deep=True, separator="")
    paragraphs = (" ".join(part.split()) for part in raw.split(_BREAK))
    return "\n\n".join(p for p in paragraphs if p)
