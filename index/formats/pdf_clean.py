"""What on a page is not the document's prose: running headers and footers, bare page numbers, and
table-of-contents or index pages.

A running line is told by where it stands (the top or bottom edge of the page) and by what it
repeats: the same words on several pages (digits ignored), the same place set apart from the
body, or a page number that follows the page count the way the document's printed numbers do
("Chapter 2: Functions 3" on page 6).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from index.formats.pdf_lines import Line, PageLines

# How far from the top or bottom edge, in page heights, a page number (0.12) and a running line
# of words (0.08) stand: body text starts at about 0.09 to 0.11 on most pages (a one-inch margin)
# and its first line may be a heading that recurs ("Comments", "Example 2").
NUMBER_ZONE = 0.12
RUNNING_ZONE = 0.08
EDGE_LINES = 2  # at most this many lines at each edge are running lines

_ROMAN = re.compile(r"m{0,3}(cm|cd|d?c{0,3})(xc|xl|l?x{0,3})(ix|iv|v?i{0,3})", re.IGNORECASE)
_NUMBER = re.compile(r"\d{1,4}")
_BARE_PAGE_NUMBER = re.compile(
    r"(page\s+)?[-–—(\[]?\s*(\d{1,4}|[ivxlcdm]{1,7})\s*[-–—)\]]?(\s*(of|/)\s*\d{1,4})?", re.IGNORECASE
)
_PAGE_REF = r"(\d{1,4}|[ivxlcdm]{1,7})"
_LEADER_END = re.compile(r"(\.\s?){3,}\s*" + _PAGE_REF + "$", re.IGNORECASE)
# Leaders whose page number was read apart (OCR puts a column of numbers in a block of its own).
_DOTS_END = re.compile(r"[^\W\d_]\s?(\.\s?){2,}$")
_INDEX_END = re.compile(r",\s*\d{1,4}(\s*[,–-]\s*\d{1,4})*$")
_LETTER = re.compile(r"[^\W\d_]")


def drop_running_lines(pages: Sequence[PageLines]) -> list[PageLines]:
    """The pages without their running headers, footers and bare page numbers."""
    edges = [_edge_lines(page, NUMBER_ZONE) for page in pages]
    margins = [_edge_lines(page, RUNNING_ZONE) for page in pages]
    repeated = _repeated_keys(margins, len(pages))
    offsets = _page_number_offsets(edges)
    placed = _set_apart(pages)
    kept: list[PageLines] = []
    for number, (page, edge, margin) in enumerate(zip(pages, edges, margins), start=1):
        running = {
            id(line)
            for line in edge
            if _is_page_number(line.text)
            or (len(line.words) <= 10 and any(number + o in _edge_numbers(line.text, k) for k, o in offsets.items()))
        }
        running.update(id(line) for line in margin if _key(line.text) in repeated or id(line) in placed)
        lines = tuple(line for line in page.lines if id(line) not in running)
        kept.append(PageLines(lines, page.width, page.height))
    # A document of one line a page (a title sheet, a set of slides) is not all running lines.
    return kept if any(page.lines for page in kept) else list(pages)


def is_navigation(page: PageLines) -> bool:
    """A table-of-contents or index page: most lines point to page numbers."""
    texts = [line.text for line in page.lines]
    if len(texts) < 4:
        return False
    leaders = sum(1 for text in texts if is_entry(text) or _DOTS_END.search(text))
    entries = sum(1 for text in texts if is_entry(text) or _is_index_entry(text))
    return leaders >= 0.3 * len(texts) or entries >= 0.6 * len(texts)


def is_entry(text: str) -> bool:
    """A table-of-contents line: words, dot leaders and a page number."""
    end = _LEADER_END.search(text)
    return end is not None and _LETTER.search(text, 0, end.start()) is not None


def _is_index_entry(text: str) -> bool:
    """An index line: a short term, a comma, then page numbers ("parsing, 12, 40-42"); a table
    row ending in a number has no comma before it, or more words."""
    end = _INDEX_END.search(text)
    if end is None or text[0].isdigit() or len(text[: end.start()].split()) > 8:
        return False
    return _LETTER.search(text, 0, end.start()) is not None


def _edge_lines(page: PageLines, zone_share: float) -> list[Line]:
    zone = zone_share * page.height
    by_top = sorted(page.lines, key=lambda line: line.y0)
    top = [line for line in by_top[:EDGE_LINES] if line.y1 <= zone]
    bottom = [line for line in by_top[::-1][:EDGE_LINES] if line.y0 >= page.height - zone]
    return top + [line for line in bottom if line not in top]


def _set_apart(pages: Sequence[PageLines]) -> set[int]:
    """Outermost lines standing at the same height on at least half of the pages, set apart from
    the body by more than a line: a running header whose words change (a section title cut short).

    Only the outermost line: the last body line of a full page and a footnote also stand at the
    same height on many pages, but a page number or footer stands beyond them.
    """
    outer: list[tuple[PageLines, Line, tuple[bool, int]]] = []
    for page in pages:
        if page.lines:
            top = min(page.lines, key=lambda line: line.y0)
            bottom = max(page.lines, key=lambda line: line.y1)
            outer.append((page, top, (True, round(top.base))))
            if bottom is not top:
                outer.append((page, bottom, (False, round(bottom.base))))
    counts = Counter(place for _, _, place in outer)
    found: set[int] = set()
    for page, line, place in outer:
        if counts[place] < max(3, 0.5 * len(pages)):
            continue
        inward = line.base + 0.5 * line.height if place[0] else line.base - 0.5 * line.height
        if (line.y1 if place[0] else page.height - line.y0) > RUNNING_ZONE * page.height:
            continue
        # Lines on the same band (a header's left and right parts) do not count as the body.
        gaps = [
            other.y0 - line.y1 if place[0] else line.y0 - other.y1
            for other in page.lines
            if (other.base > inward if place[0] else other.base < inward)
        ]
        if not gaps or min(gaps) > line.height:
            found.add(id(line))
    return found


def _key(text: str) -> str:
    words = text.lower().split()
    words = ["#" if _ROMAN.fullmatch(w) and w else w for w in words]
    return _NUMBER.sub("#", " ".join(words))


def _repeated_keys(edges: list[list[Line]], n_pages: int) -> set[str]:
    """Edge lines with letters that stand on enough pages to be running headers or footers."""
    pages_with = Counter(key for edge in edges for key in {_key(line.text) for line in edge})
    needed = max(2, min(3, n_pages))
    return {key for key, count in pages_with.items() if count >= needed and _LETTER.search(key)}


def _edge_numbers(text: str, kind: str) -> set[int]:
    """The numbers at the start or end of an edge line: arabic, or roman (``kind`` "r")."""
    words = text.split()
    found: set[int] = set()
    for word in {words[0], words[-1]}:
        word = word.strip("-–—()[]")
        if kind == "a" and word.isdigit() and len(word) <= 4:
            found.add(int(word))
        elif kind == "r" and word and _ROMAN.fullmatch(word):
            found.add(_roman_value(word))
    return found


def _page_number_offsets(edges: list[list[Line]]) -> dict[str, int]:
    """How printed page numbers follow page positions (printed = position + offset), for arabic
    ("a") and roman ("r") numbering, where at least three pages agree."""
    offsets: dict[str, int] = {}
    for kind in "ar":
        found: Counter[int] = Counter()
        for number, edge in enumerate(edges, start=1):
            found.update({value - number for line in edge for value in _edge_numbers(line.text, kind)})
        if found and (best := found.most_common(1)[0])[1] >= 3:
            offsets[kind] = best[0]
    return offsets


def _is_page_number(text: str) -> bool:
    match = _BARE_PAGE_NUMBER.fullmatch(text.strip())
    return bool(match) and (match.group(2).isdigit() or bool(_ROMAN.fullmatch(match.group(2))))


def _roman_value(text: str) -> int:
    values = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100, "d": 500, "m": 1000}
    digits = [values[c] for c in text.lower()]
    return sum(-d if i + 1 < len(digits) and d < digits[i + 1] else d for i, d in enumerate(digits))
