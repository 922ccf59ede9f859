"""Sentence spans (character offsets) of a text. The only module that imports nupunkt."""

from __future__ import annotations

import re
from itertools import pairwise

import nupunkt

# Blank lines always end a sentence (titles, list items, paragraphs); nupunkt, trained on
# English prose, does not know CJK full stops, so they are cut points too.
_BLOCK_BREAK = re.compile(r"\n[^\S\n]*\n\s*")
_SPACE = re.compile(r"\s")
_WINDOW = 1 << 20
_CJK_END = re.compile(r"[。！？]+[」』”’）)]*")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Spans ``(start, end)`` of the sentences of ``text``, stripped of surrounding whitespace.

    The spans are ordered, disjoint, never empty, and together hold every non-whitespace
    character of ``text``: we cut the text at sentence ends rather than trusting a
    sentence splitter to return full coverage.
    """
    block_ends = [m.end() for m in _BLOCK_BREAK.finditer(text)]
    cuts: set[int] = {0, len(text), *block_ends}
    cuts.update(m.end() for m in _CJK_END.finditer(text))
    block_start = 0
    for block_end in [*block_ends, len(text)]:
        for start, end in _windows(text, block_start, block_end):
            cuts.add(end)
            piece = text[start:end]
            if not piece.strip():
                continue
            for _, piece_end in nupunkt.sent_spans(piece):
                cut = start + piece_end
                # A cut must sit at whitespace so that no word is ever split.
                if cut == len(text) or text[cut - 1].isspace() or text[cut].isspace():
                    cuts.add(cut)
        block_start = block_end
    spans = (_strip(text, start, end) for start, end in pairwise(sorted(cuts)))
    return [span for span in spans if span is not None]


def _windows(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """``[start, end)`` cut after whitespace into pieces of about ``_WINDOW`` characters.

    nupunkt's memory grows with its input (about 7 bytes a character), so a 50 MB file with no
    blank line would cost hundreds of MB at once; a window edge is just one more cut at whitespace.
    """
    windows = []
    while end - start > _WINDOW:
        space = _SPACE.search(text, start + _WINDOW, end)
        if space is None:
            break
        windows.append((start, space.end()))
        start = space.end()
    windows.append((start, end))
    return windows


def _strip(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None
