"""The text of a PDF as the document reads: wrapped lines joined into paragraphs, hyphenated line
ends closed, running headers, footers and page numbers dropped (``pdf_clean``), with the page
and the box of every word kept.

Lines of one paragraph are joined by a space (a hyphenated break by nothing), paragraphs by a
blank line, which also ends a sentence for the sentence splitter, and a line ending in a colon
by a line break. Pages are joined by a blank line too, unless a sentence runs on from one page
to the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from index.formats.pdf_clean import drop_running_lines, is_navigation
from index.formats.pdf_lines import PageLines
from index.formats.pdf_paragraphs import Measures, paragraph_ends
from index.formats.pdf_runs import Placed, runs
from qa.core.types import PageSpan, TextBox

PARAGRAPH = "\n\n"
# A line ending in a colon introduces what is set below it (a command, a list): one line break
# keeps them in one sentence, as "the following command: glpsol --check foo.mod" is read.
INTRODUCED = "\n"
_EDGE_PUNCTUATION = "\"'“”‘’()[]{}<>.,;:!?"
_SENTENCE_END = ".!?:;"


@dataclass(frozen=True, slots=True)
class Laid:
    """A document's cleaned text, its page spans and the boxes of its words (page fractions)."""

    text: str
    pages: tuple[PageSpan, ...]
    boxes: tuple[TextBox, ...]


def lay_out(pages: Sequence[PageLines]) -> Laid:
    cleaned = drop_running_lines(pages)
    navigation = [is_navigation(page) for page in cleaned]
    vocabulary = {_bare(word.text) for page in cleaned for line in page.lines for word in line.words}
    texts = [[[word.text for word in line.words] for line in page.lines] for page in cleaned]
    measures = Measures.of(cleaned)
    joins = [_page_joins(page, words, vocabulary, measures) for page, words in zip(cleaned, texts)]
    parts: list[str] = []
    placed: list[Placed] = []
    spans: list[PageSpan] = []
    offset = 0
    last = None  # the last page with text so far
    for n, page in enumerate(cleaned):
        if page.lines and last is not None:
            # Pages are joined by a paragraph break unless a sentence runs on from one to the next.
            runs_on = last == n - 1 and not navigation[last] and not navigation[n]
            seam = _seam(texts[last][-1], texts[n][0], vocabulary) if runs_on else PARAGRAPH
            parts.append(seam)
            offset += len(seam)
        start = offset
        for i, line in enumerate(page.lines):
            for j, (word, text) in enumerate(zip(line.words, texts[n][i])):
                if j:
                    parts.append(" ")
                    offset += 1
                # A closed hyphen keeps its box: the highlight of the word covers it as drawn.
                placed.append(Placed(offset, offset + len(text), n + 1, i, word))
                parts.append(text)
                offset += len(text)
            if i + 1 < len(page.lines):
                parts.append(joins[n][i])
                offset += len(joins[n][i])
        spans.append(PageSpan(n + 1, start, offset, navigation[n]))
        last = n if page.lines else last
    sizes = [(page.width, page.height) for page in cleaned]
    return Laid("".join(parts), tuple(spans), runs(placed, sizes))


def _page_joins(page: PageLines, texts: list[list[str]], vocabulary: set[str], measures: Measures) -> list[str]:
    """What joins each line of the page to the next: " ", "" (a closed hyphenated break), a line
    break after a colon, or a paragraph break. Closing a break edits the word before it in
    ``texts``."""
    ends = paragraph_ends(page.lines, measures)
    lines = page.lines
    joins = []
    for i, end in enumerate(ends):
        if not end:
            joins.append(_runs_on(texts[i], texts[i + 1], vocabulary))
        elif texts[i][-1].endswith(":") and lines[i + 1].size <= 1.2 * lines[i].size:
            joins.append(INTRODUCED)
        else:
            joins.append(PARAGRAPH)
    return joins


def _runs_on(prev: list[str], cur: list[str], vocabulary: set[str]) -> str:
    """The join of two lines of one paragraph; a hyphenated word is closed by editing ``prev``."""
    last, first = prev[-1], cur[0]
    if last.endswith("-") and len(last) > 1 and last[-2].isalpha() and first[:1].islower():
        # "iden-" + "tifier" is one word, but "well-" + "known" keeps its hyphen when the document
        # spells it so elsewhere and never as "wellknown".
        hyphened, joined = _bare(last + first), _bare(last[:-1] + first)
        if not (hyphened in vocabulary and joined not in vocabulary):
            prev[-1] = last[:-1]
        return ""
    if last.endswith(("_", "/")) and len(last) > 1:
        return ""  # identifiers and paths are broken after these without a hyphen
    return " "


def _seam(prev: list[str], cur: list[str], vocabulary: set[str]) -> str:
    """Between two pages: a sentence that runs on to the next page is joined like two lines."""
    if prev[-1].endswith(":"):
        return INTRODUCED
    if prev[-1].endswith(tuple(_SENTENCE_END)) or not cur[0][:1].islower():
        return PARAGRAPH
    return _runs_on(prev, cur, vocabulary)


def _bare(word: str) -> str:
    return word.strip(_EDGE_PUNCTUATION).lower()
