"""The values that flow between stages: Document -> Chunk -> Hit.

They are frozen so that a stage can never change what an earlier stage produced, and
offsets are typed fields (not metadata) because every citation we show is checked
against them: ``document.text[chunk.start:chunk.end] == chunk.text``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from qa.core.errors import SpanMismatch


def content_hash(text: str) -> str:
    """Stable hash of a document's text; a changed hash means re-chunk and re-embed."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class PageSpan:
    """Characters ``[start, end)`` of a document's text came from PDF page ``page`` (1-based)."""

    page: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Document:
    """One source text. ``doc_id`` is stable across rebuilds (relative path or corpus id)."""

    doc_id: str
    title: str
    source: str
    text: str
    pages: tuple[PageSpan, ...] = ()
    content_hash: str = field(default="")

    def __post_init__(self) -> None:
        if not self.content_hash:
            object.__setattr__(self, "content_hash", content_hash(self.text))

    def page_at(self, offset: int) -> int | None:
        """The PDF page holding character ``offset``, or None for documents without pages."""
        for span in self.pages:
            if span.start <= offset < span.end:
                return span.page
        if self.pages and offset >= self.pages[-1].end:
            return self.pages[-1].page
        return None

    def quote(self, start: int, end: int) -> str:
        if not 0 <= start <= end <= len(self.text):
            raise SpanMismatch(f"span [{start}, {end}) is outside document {self.doc_id!r} of length {len(self.text)}")
        return self.text[start:end]


@dataclass(frozen=True, slots=True)
class Chunk:
    """A token-bounded piece of a document: ``text == document.text[start:end]``."""

    doc_id: str
    start: int
    end: int
    text: str
    n_tokens: int

    def __post_init__(self) -> None:
        if self.end - self.start != len(self.text) or self.start < 0:
            raise SpanMismatch(
                f"chunk of {self.doc_id!r} has span [{self.start}, {self.end}) but {len(self.text)} characters"
            )


@dataclass(frozen=True, slots=True)
class Scores:
    """Per-retriever scores of a hit; None when that retriever did not score it."""

    dense: float | None
    bm25: float | None


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved chunk, with everything needed to cite it."""

    chunk_id: int
    doc_id: str
    title: str
    source: str
    page: int | None
    start: int
    end: int
    text: str
    score: float
    scores: Scores

    def to_json(self) -> dict:
        """The JSON shape of a hit: a contract shared by the CLI, eval and the UI."""
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "source": self.source,
            "page": self.page,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "score": round(float(self.score), 6),
            "scores": {
                "dense": None if self.scores.dense is None else round(float(self.scores.dense), 6),
                "bm25": None if self.scores.bm25 is None else round(float(self.scores.bm25), 6),
            },
        }
