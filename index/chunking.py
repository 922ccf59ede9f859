"""Token-bounded chunking at sentence boundaries, with exact character offsets.

Sentences are packed greedily into chunks of at most ``max_tokens`` cl100k_base tokens;
a chunk starts with the last sentences of the previous one, up to ``overlap_tokens``, so
that a fact straddling a boundary is whole in at least one chunk. A sentence longer than
a chunk is cut between words; a single word longer than a chunk becomes a chunk of its
own (we never split inside a word, and such "words" are rare: URLs, base64 blobs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.sentences import sentence_spans
from index.tokens import TOKENIZER_NAME, count_tokens, count_tokens_batch
from qa.core.errors import QAError
from qa.core.types import Chunk, Document

_WORD = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class ChunkerSettings:
    """Chunk size and overlap in tokens; defaults chosen by measurement (docs/benchmarks.md)."""

    max_tokens: int = 200
    overlap_tokens: int = 40
    tokenizer: str = TOKENIZER_NAME

    def __post_init__(self) -> None:
        if self.max_tokens < 8:
            raise QAError(f"max_tokens must be at least 8, got {self.max_tokens}")
        if not 0 <= self.overlap_tokens < self.max_tokens:
            raise QAError(f"overlap_tokens must be in [0, max_tokens), got {self.overlap_tokens}")

    def to_json(self) -> dict:
        return {"max_tokens": self.max_tokens, "overlap_tokens": self.overlap_tokens, "tokenizer": self.tokenizer}


def chunk_document(document: Document, settings: ChunkerSettings = ChunkerSettings()) -> list[Chunk]:
    """The chunks of ``document``, ordered by start; empty for a blank document.

    Table-of-contents and index pages (``PageSpan.navigation``) get no chunks, and no chunk spans
    across one: the text on each side of such a page is chunked on its own.
    """
    text = document.text
    chunks: list[Chunk] = []
    for units in _runs(_units(text, settings.max_tokens), document):
        i = 0
        while i < len(units):
            j, n_tokens = _pack(text, units, i, settings.max_tokens)
            start, end = units[i][0], units[j - 1][1]
            chunks.append(Chunk(document.doc_id, start, end, text[start:end], n_tokens))
            if j >= len(units):
                break
            i = _overlap_start(units, i, j, settings.overlap_tokens)
    return chunks


def _runs(units: list[tuple[int, int, int]], document: Document) -> list[list[tuple[int, int, int]]]:
    """The units split into runs by navigation pages, whose own units are dropped."""
    skipped = [(page.start, page.end) for page in document.pages if page.navigation]
    if not skipped:
        return [units]
    runs: list[list[tuple[int, int, int]]] = [[]]
    for unit in units:
        if any(start < unit[1] and unit[0] < end for start, end in skipped):
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(unit)
    return [run for run in runs if run]


def _units(text: str, max_tokens: int) -> list[tuple[int, int, int]]:
    """Sentences as ``(start, end, tokens)``; sentences over the limit are cut between words."""
    spans = sentence_spans(text)
    counts = count_tokens_batch([text[s:e] for s, e in spans])
    units: list[tuple[int, int, int]] = []
    for (start, end), n in zip(spans, counts):
        if n <= max_tokens:
            units.append((start, end, n))
        else:
            units.extend(_split_long_sentence(text, start, end, max_tokens))
    return units


def _split_long_sentence(text: str, start: int, end: int, max_tokens: int) -> list[tuple[int, int, int]]:
    words = [(m.start(), m.end()) for m in _WORD.finditer(text, start, end)]
    units = [(s, e, n) for (s, e), n in zip(words, count_tokens_batch([text[s:e] for s, e in words]))]
    pieces: list[tuple[int, int, int]] = []
    i = 0
    while i < len(units):
        j, n_tokens = _pack(text, units, i, max_tokens)
        pieces.append((units[i][0], units[j - 1][1], n_tokens))
        i = j
    return pieces


def _pack(text: str, units: list[tuple[int, int, int]], i: int, max_tokens: int) -> tuple[int, int]:
    """End (exclusive unit index) and exact token count of the chunk starting at unit ``i``.

    Summing per-sentence counts ignores the whitespace between sentences, so the estimate
    is checked against an exact count of the joined text and trimmed when it is over.
    """
    j, estimate = i + 1, units[i][2]
    while j < len(units) and estimate + units[j][2] <= max_tokens:
        estimate += units[j][2]
        j += 1
    while True:
        exact = count_tokens(text[units[i][0] : units[j - 1][1]])
        if exact <= max_tokens or j == i + 1:
            return j, exact
        j -= 1


def _overlap_start(units: list[tuple[int, int, int]], i: int, j: int, overlap_tokens: int) -> int:
    """First unit of the next chunk: trailing units of [i, j) that fit in the overlap budget."""
    k, budget = j, 0
    while k - 1 > i and budget + units[k - 1][2] <= overlap_tokens:
        budget += units[k - 1][2]
        k -= 1
    return k
