"""What an answer is: text, an optional short answer, and citations that are exact source spans.

A citation is only ever built from a stored document's text (``Citation.verified``), and can be
checked again against that document at any time (``verify``): a quote that does not reproduce
``document.text[start:end]`` is a bug, so it raises ``SpanMismatch`` instead of being shown.
"""

from __future__ import annotations

from dataclasses import dataclass

from qa.errors import SpanMismatch
from qa.types import Document, Hit

NO_ANSWER_TEXT = "The documents do not contain an answer to this question."


def _check_span(what: str, document: Document, start: int, end: int, quote: str) -> None:
    if document.quote(start, end) != quote:
        raise SpanMismatch(
            f"{what} [{start}, {end}) of {document.doc_id!r} reads {document.text[start:end]!r}, not {quote!r}"
        )


@dataclass(frozen=True, slots=True)
class Citation:
    """Source ``[n]`` of an answer: characters ``[start, end)`` of document ``doc_id``."""

    n: int
    doc_id: str
    title: str
    source: str
    page: int | None
    start: int
    end: int
    quote: str

    @classmethod
    def verified(cls, n: int, document: Document, start: int, end: int) -> Citation:
        """The citation of ``document.text[start:end]``; SpanMismatch for an empty or out-of-range span."""
        if start >= end:
            raise SpanMismatch(f"empty citation span [{start}, {end}) of {document.doc_id!r}")
        quote = document.quote(start, end)
        return cls(n, document.doc_id, document.title, document.source, document.page_at(start), start, end, quote)

    def verify(self, document: Document) -> None:
        """Raise SpanMismatch unless this citation quotes ``document`` exactly."""
        if document.doc_id != self.doc_id:
            raise SpanMismatch(f"citation [{self.n}] is of {self.doc_id!r}, checked against {document.doc_id!r}")
        _check_span(f"citation [{self.n}]", document, self.start, self.end, self.quote)

    def to_json(self) -> dict:
        return {
            "n": self.n,
            "doc_id": self.doc_id,
            "title": self.title,
            "source": self.source,
            "page": self.page,
            "start": self.start,
            "end": self.end,
            "quote": self.quote,
        }


@dataclass(frozen=True, slots=True)
class ShortAnswer:
    """A phrase answering the question (a name, a date, a number), as an exact span of ``doc_id``."""

    text: str
    doc_id: str
    start: int
    end: int

    @classmethod
    def verified(cls, document: Document, start: int, end: int) -> ShortAnswer:
        if start >= end:
            raise SpanMismatch(f"empty short-answer span [{start}, {end}) of {document.doc_id!r}")
        return cls(document.quote(start, end), document.doc_id, start, end)

    def verify(self, document: Document) -> None:
        if document.doc_id != self.doc_id:
            raise SpanMismatch(f"short answer is of {self.doc_id!r}, checked against {document.doc_id!r}")
        _check_span("short answer", document, self.start, self.end, self.text)


@dataclass(frozen=True, slots=True)
class Answer:
    """The reply to one question; ``hits`` are the passages it was drawn from, kept even on abstention.

    ``evidence_score`` is the support the abstention decision compared with its threshold
    (``qa.extractive.support``), -inf when there was no candidate sentence.
    """

    question: str
    rewritten_query: str
    text: str
    short_answer: ShortAnswer | None
    abstained: bool
    citations: tuple[Citation, ...]
    hits: tuple[Hit, ...]
    evidence_score: float

    def to_json(self) -> dict:
        """The JSON shape of an answer: a contract shared by the CLI, eval and the UI."""
        short = self.short_answer
        return {
            "question": self.question,
            "rewritten_query": self.rewritten_query,
            "answer": self.text,
            "short_answer": None if short is None else short.text,
            "short_answer_span": None
            if short is None
            else {"doc_id": short.doc_id, "start": short.start, "end": short.end},
            "abstained": self.abstained,
            "evidence_score": round(float(self.evidence_score), 6),
            "citations": [c.to_json() for c in self.citations],
            "hits": [h.to_json() for h in self.hits],
        }
