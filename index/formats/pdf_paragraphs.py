"""Where a paragraph ends, from the geometry of its lines.

A line ends its paragraph when the next line's first word would have fitted at its end (so it
was ended on purpose), when the gap below it is wider than the line pitch, or when the next line
is of another size, a list item, or the line is a contents entry. The pitch and the column edges
are measured over the whole document, as a page may hold too few lines to show them.
"""

from __future__ import annotations

import bisect
import re
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from index.formats.pdf_clean import is_entry
from index.formats.pdf_lines import Line, PageLines

_BULLET = re.compile(r"[•◦▪▫‣∙·●○■□➢►–—*-]|\(?(\d{1,2}|[a-zA-Z]|[ivx]{1,4})[.)]")


@dataclass(frozen=True, slots=True)
class Measures:
    """The document's line steps by font size (``steps``: sorted pairs), and the right edges
    many lines end at (the columns of justified text)."""

    steps: tuple[tuple[float, float], ...]
    edges: tuple[float, ...]

    @staticmethod
    def of(pages: Sequence[PageLines]) -> Measures:
        steps = sorted((a.size, step) for page in pages for a, step in _steps(page.lines))
        ends = Counter(round(line.x1) for page in pages for line in page.lines if len(line.words) > 2)
        total = sum(ends.values())
        edges = sorted(end for end in ends if ends[end - 1] + ends[end] + ends[end + 1] >= max(3, 0.02 * total))
        return Measures(tuple(steps), tuple(edges))

    def pitch(self, size: float) -> float:
        """The usual step between lines of this font size: the lower half of their steps, so that
        paragraph gaps do not raise it (1.2 sizes when the document has too few such lines)."""
        lo = bisect.bisect_left(self.steps, (0.85 * size, 0.0))
        hi = bisect.bisect_right(self.steps, (1.15 * size, float("inf")))
        steps = sorted(step for _, step in self.steps[lo:hi])
        return statistics.median(steps[: len(steps) // 2 + 1]) if len(steps) >= 3 else 1.2 * size


def paragraph_ends(lines: Sequence[Line], measures: Measures) -> list[bool]:
    """For each line but the last, whether its paragraph ends after it."""
    pitches: dict[float, float] = {}
    ends = []
    for i in range(len(lines) - 1):
        prev, cur = lines[i], lines[i + 1]
        key = round(prev.size, 1)
        if key not in pitches:
            pitches[key] = measures.pitch(prev.size)
        ends.append(not _same_paragraph(prev, cur, _right_edge(lines, i, measures.edges), pitches[key]))
    return ends


def _same_paragraph(prev: Line, cur: Line, right: float, pitch: float) -> bool:
    size = max(prev.size, cur.size)
    if abs(prev.size - cur.size) > 0.2 * size:
        return False  # a heading, a caption, a footnote
    if _BULLET.fullmatch(cur.words[0].text) or is_entry(prev.text):
        return False
    first = cur.words[0]
    if prev.x1 + 0.3 * size + (first.x1 - first.x0) <= right:
        return False  # a paragraph's last line, a heading, a list or code line
    step = cur.base - prev.base
    if step < 0.3 * size:
        return True  # a new column (or a line drawn out of order): only fullness tells
    # Paragraph spacing is often a fifth of a line or less; lines of one paragraph keep the pitch
    # to a few percent (a code word or a superscript moves a box edge, not the baseline).
    return step <= 1.1 * pitch


def _steps(lines: Sequence[Line]) -> list[tuple[Line, float]]:
    """Baseline steps between consecutive lines of one size that stand close below each other."""
    return [
        (a, b.base - a.base)
        for a, b in pairwise(lines)
        if 0.5 * a.size < b.base - a.base < 3 * a.size and abs(a.size - b.size) <= 0.2 * a.size
    ]


def _right_edge(lines: Sequence[Line], i: int, edges: Sequence[float], reach: int = 8) -> float:
    """Where the text column of line ``i`` ends: the furthest right end among nearby lines of its
    size that share its horizontal extent (lines of another column do not), or the document's
    column edge just right of it."""
    line = lines[i]
    edge = line.x1
    for other in lines[max(0, i - reach) : i + reach + 1]:
        overlap = min(line.x1, other.x1) - max(line.x0, other.x0)
        similar = abs(other.size - line.size) <= 0.2 * line.size
        if similar and overlap > 0.5 * min(line.x1 - line.x0, other.x1 - other.x0):
            edge = max(edge, other.x1)
    column = next((end for end in edges if end >= line.x1 - 1), None)
    return edge if column is None else max(edge, column)
