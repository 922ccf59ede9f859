"""The text of an HTML page as a reader sees it, by a walk over its elements.

Block elements (paragraphs, headings, list items, definition terms and descriptions, table
rows, …) each become a paragraph, and paragraphs are separated by a blank line, which the sentence
splitter always takes as a sentence end: a heading or a list item is never glued to the next
sentence. Inline elements (``<code>``, ``<kbd>``, ``<em>``, ``<a>``, unknown tags) stay inside
their paragraph, and whitespace is collapsed as a browser does, so the source's line wrapping is
not kept. Line breaks that the page shows stay single newlines: ``<br>``, the lines of ``<pre>``,
and consecutive ``<dt>`` terms (``-E`` / ``--tabstospaces``). A data table row is one line of
cells joined by `` | ``; a layout table (lists or tables inside its cells) is read as blocks.
Nothing is added that the page does not show: no list markers, no numbers.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode

from index.formats.html_boilerplate import HEADINGS, NEVER_TEXT, Boilerplate, hidden

_BLOCKS = frozenset(
    {"address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details", "dialog", "dir"}
    | {"div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "header", "hgroup", "hr", "html", "legend"}
    | {"li", "main", "menu", "nav", "ol", "p", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead"}
    | {"tr", "ul"}
    | HEADINGS
)
_BOLD = frozenset({"b", "strong"})
_CONTENT = frozenset({"article", "main"})
_CELLS = frozenset({"td", "th"})
# A cell holding one of these is page layout, not data: its row is read as blocks.
_LAYOUT = "table, ul, ol, dl, pre, h1, h2, h3, h4, h5, h6, blockquote, section, article"
_BREAK = "\ue000"  # a <br>: never in real text, so source newlines are not taken for it
_CELL_SEPARATOR = " | "
# FAQ markup that is not a heading element (<div class="question">, <span class="faq-question">):
# the question is a paragraph of its own even when its tag is inline.
_QUESTION_NAMES = frozenset({"question", "faq-question", "faq_question", "faqquestion"})


def page_text(tree: LexborHTMLParser, *, book: bool = False) -> str:
    """The paragraphs of a page separated by blank lines ("" when it has no text). A web page is
    read from its only ``<main>`` when it has one, without navigation and site furniture; a book
    chapter (``book``) keeps its headers, footers and asides (a chapter heading, footnotes)."""
    root = tree.body or tree.root
    if root is None:
        return ""
    if not book:
        mains = tree.css("main, [role=main]")
        if len(mains) == 1 and mains[0].text().strip():
            root = mains[0]
    writer = _Writer()
    _walk(root, Boilerplate(root, book=book), writer)
    return "\n\n".join(writer.blocks)


@dataclass
class _Writer:
    blocks: list[str] = field(default_factory=list)
    pieces: list[tuple[str, bool]] = field(default_factory=list)  # inline text and whether bold
    row: list[str] | None = None  # the cells of the data row being read
    last_term: bool = False  # the last block is a <dt>, so a following <dt> joins it as a line

    def text(self, value: str, *, bold: bool) -> None:
        self.pieces.append((value, bold))

    def line_break(self) -> None:
        self.pieces.append((" " if self.row is not None else _BREAK, False))

    def block(self, text: str) -> None:
        if text:
            self.blocks.append(text)
            self.last_term = False

    def flush(self, *, term: bool = False) -> None:
        """End the paragraph being read. A first line that is all bold (``<b>Question</b><br>``)
        is a heading of its own unless the next line is bold too (a list of commands)."""
        if self.row is not None:
            return  # blocks inside a data cell are read as part of the cell
        lines = list(_lines(self.pieces))
        self.pieces = []
        if not lines:
            return
        if len(lines) > 1 and lines[0][1] and not lines[1][1]:
            self.block(lines[0][0])
            lines = lines[1:]
        text = "\n".join(line for line, _ in lines)
        if term and self.last_term:
            self.blocks[-1] += "\n" + text
        else:
            self.block(text)
        self.last_term = term

    def end_cell(self) -> None:
        assert self.row is not None
        text = " ".join("".join(value for value, _ in self.pieces).split())
        self.pieces = []
        if text:
            self.row.append(text)


def _lines(pieces: list[tuple[str, bool]]) -> Iterator[tuple[str, bool]]:
    """The non-blank lines of inline text, whitespace collapsed, each with whether it is all bold."""
    line: list[tuple[str, bool]] = []
    for value, bold in [*pieces, (_BREAK, False)]:
        parts = value.split(_BREAK)
        for i, part in enumerate(parts):
            if i:
                text = " ".join("".join(v for v, _ in line).split())
                if text:
                    letters = [ch for v, b in line for ch in v if ch.isalnum() and not b]
                    yield text, not letters and any(ch.isalnum() for ch in text)
                line = []
            line.append((part, bold))


def _pre(node: LexborNode) -> str:
    """A ``<pre>`` block's lines as written, less their common indentation, trailing spaces and
    edge blank lines."""
    lines = [line.rstrip() for line in node.text(deep=True, separator="").expandtabs().split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return textwrap.dedent("\n".join(lines))


def _is_data_row(row: LexborNode) -> bool:
    return not any(cell.tag in _CELLS and cell.css_first(_LAYOUT) is not None for cell in row.iter())


def _is_question(node: LexborNode) -> bool:
    return not _QUESTION_NAMES.isdisjoint((node.attributes.get("class") or "").lower().split())


def _walk(root: LexborNode, boilerplate: Boilerplate, writer: _Writer) -> None:
    """Feed ``writer`` the page under ``root``, in document order, without recursion (a hostile
    page may nest elements thousands deep)."""
    bold = 0  # open <b>/<strong> elements
    content = 0  # open <article>/<main> elements
    # Each frame: an element and its children still to visit (reversed, so pop() is the next one).
    stack: list[tuple[LexborNode, list[LexborNode]]] = []

    def enter(node: LexborNode) -> bool:
        """Start an element; False when its content is skipped altogether."""
        nonlocal bold, content
        tag = node.tag
        if tag in NEVER_TEXT or hidden(node) or boilerplate.drops(node, in_content=content > 0):
            return False
        if tag == "br":
            writer.line_break()
            return False
        if tag == "pre":  # never inside a data row: a cell holding one makes its row layout
            writer.flush()
            writer.block(_pre(node))
            return False
        if tag == "tr" and writer.row is None and _is_data_row(node):
            writer.flush()
            writer.row = []
        elif tag in _BLOCKS or _is_question(node):
            writer.flush()
        bold += tag in _BOLD
        content += tag in _CONTENT
        return True

    def leave(node: LexborNode) -> None:
        nonlocal bold, content
        tag = node.tag
        bold -= tag in _BOLD
        content -= tag in _CONTENT
        if writer.row is not None and tag in _CELLS:
            writer.end_cell()
        elif writer.row is not None and tag == "tr":
            row, writer.row = writer.row, None
            writer.block(_CELL_SEPARATOR.join(row))
        elif tag in _BLOCKS or _is_question(node):
            writer.flush(term=tag == "dt")

    if enter(root):
        stack.append((root, list(reversed(list(root.iter(include_text=True))))))
    while stack:
        node, children = stack[-1]
        if not children:
            stack.pop()
            leave(node)
            continue
        child = children.pop()
        if child.is_text_node:
            writer.text(child.text_content or "", bold=bold > 0)
        elif child.is_element_node and enter(child):
            stack.append((child, list(reversed(list(child.iter(include_text=True))))))
