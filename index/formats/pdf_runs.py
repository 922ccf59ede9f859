"""Word boxes merged into runs a citation can be drawn from.

``Document.boxes_for`` places a character inside a run by linear interpolation, so words are
merged into one run only while that stays true: every word edge of the run lies within a fraction
of a character of where interpolation puts it. Monospaced lines become one run; proportional
text becomes a few runs a line. That keeps the stored boxes small without moving a highlight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from index.formats.pdf_lines import Word
from qa.core.types import Box, TextBox

TOLERANCE = 0.4  # of a character's width: how far interpolation may misplace a word edge


@dataclass(frozen=True, slots=True)
class Placed:
    """Characters ``[start, end)`` of the text are ``word``, on line ``line`` of page ``page``."""

    start: int
    end: int
    page: int
    line: int
    word: Word


def runs(placed: Sequence[Placed], sizes: Sequence[tuple[float, float]]) -> tuple[TextBox, ...]:
    """The placed words as runs, boxes in fractions of the page (``sizes[page - 1]`` in points)."""
    boxes: list[TextBox] = []
    i = 0
    while i < len(placed):
        j = i + 1
        while j < len(placed) and _fits(placed, i, j):
            j += 1
        boxes.append(_box(placed[i:j], sizes[placed[i].page - 1]))
        i = j
    return tuple(boxes)


def _fits(placed: Sequence[Placed], i: int, j: int) -> bool:
    """Whether word ``j`` can join the run of words ``i..j-1``."""
    first, new = placed[i], placed[j]
    if new.page != first.page or new.line != first.line or new.word.x0 < placed[j - 1].word.x1:
        return False
    x0, x1 = first.word.x0, new.word.x1
    per_char = (x1 - x0) / max(1, new.end - first.start)
    tolerance = TOLERANCE * per_char
    for item in placed[i : j + 1]:
        left = x0 + per_char * (item.start - first.start)
        right = x0 + per_char * (item.end - first.start)
        if abs(item.word.x0 - left) > tolerance or abs(item.word.x1 - right) > tolerance:
            return False
    return True


def _box(items: Sequence[Placed], size: tuple[float, float]) -> TextBox:
    width, height = size
    words = [item.word for item in items]
    x0, x1 = min([w.x0 for w in words]), max([w.x1 for w in words])
    y0, y1 = min([w.y0 for w in words]), max([w.y1 for w in words])
    box = Box(items[0].page, _unit(x0 / width), _unit(y0 / height), _unit(x1 / width), _unit(y1 / height))
    return TextBox(items[0].start, items[-1].end, box)


def _unit(value: float) -> float:
    return min(1.0, max(0.0, value))
