"""Words and lines of a page, from characters with their boxes (a PDF text layer or OCR).

Coordinates are points from the top-left corner of the page as it is shown (rotation and crop
box applied), so the layout rules below read the same for native text and for OCR.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# PDFium reports a line-end hyphen it recognised as U+0002; a soft hyphen is U+00AD.
_HYPHENS = {"\x02": "-", "\u00ad": "-"}


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    size: float  # the font size in points (box heights differ between fonts of one size)


@dataclass(frozen=True, slots=True)
class Line:
    """Words on one baseline, in reading order, with their common box (``Line.of`` computes it).

    ``base`` is where the line stands: the middle word bottom, steadier than any one box edge;
    ``size`` is the middle word's font size.
    """

    words: tuple[Word, ...]
    x0: float
    y0: float
    x1: float
    y1: float
    base: float
    size: float

    @staticmethod
    def of(words: tuple[Word, ...]) -> Line:
        middle = len(words) // 2
        bottoms = sorted(w.y1 for w in words)
        size = sorted(w.size for w in words)[middle]
        top = min(w.y0 for w in words)
        return Line(words, words[0].x0, top, words[-1].x1, bottoms[-1], bottoms[middle], size)

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


@dataclass(frozen=True, slots=True)
class PageLines:
    """The lines of one page and the page's size in points (as shown)."""

    lines: tuple[Line, ...]
    width: float
    height: float


Char = tuple[str, float, float, float, float, float]  # text, x0, y0, x1, y1 (points, top-left), size


def lines_from_chars(chars: Iterable[Char]) -> tuple[Line, ...]:
    """Characters in content order grouped into words (split at spaces and gaps) and lines.

    A line ends where the next character is not on the current line's band or jumps back to the
    left. The breaks the text layer reports are taken as spaces only: PDFium breaks after a
    footnote mark, and joins a hyphenated line end to the next line without a break.
    """
    lines: list[Line] = []
    words: list[Word] = []
    word: list[Char] = []
    band: tuple[float, float] | None = None  # vertical extent of the line's first character
    last: Char | None = None

    size = 0.0  # the last font size seen: a word cut from the one before has none of its own

    def end_word() -> None:
        nonlocal size
        if word:
            made = _word(word, size)
            if made.text:
                words.append(made)
                size = made.size
            word.clear()

    def end_line() -> None:
        nonlocal band, last
        end_word()
        if words:
            lines.append(Line.of(tuple(words)))
            words.clear()
        band = last = None

    for char in chars:
        text = char[0]
        if not text or text.isspace() or (ord(text[0]) < 0x20 and text not in _HYPHENS):
            end_word()
            continue
        if band is not None and last is not None:
            _, left, top, _, bottom, _ = char
            height = band[1] - band[0]
            if bottom - top > height:
                height = bottom - top
            middle = (top + bottom) / 2
            off_band = not band[0] - 0.1 * height <= middle <= band[1] + 0.1 * height
            if off_band:
                # A superscript or subscript (a footnote mark) stands off the band but touches
                # it, right after the character before it.
                touching = min(band[1], bottom) - max(band[0], top) > 0.3 * (bottom - top)
                off_band = not (touching and -0.5 * height < left - last[3] < 0.5 * height)
            if off_band or left < last[1] - 0.5 * height:
                end_line()
            elif left - last[3] > 0.25 * height:
                end_word()  # words placed apart without a space character
        if band is None:
            band = (char[2], char[4])
        last = char
        word.append((_HYPHENS.get(text, text), *char[1:]))
    end_line()
    return tuple(lines)


def _word(chars: list[Char], size_before: float) -> Word:
    text = "".join(c[0] for c in chars)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)  # ligatures (ﬁ → fi) and compatibility forms
        if all(unicodedata.combining(c) for c in text):
            text = ""  # an accent drawn on its own beside its letter
    _, lefts, tops, rights, bottoms, sizes = zip(*chars)
    x0, y0, x1, y1, size = min(lefts), min(tops), max(rights), max(bottoms), max(sizes)
    return Word(text, x0, y0, x1, y1, size or size_before or y1 - y0)
