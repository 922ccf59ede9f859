"""What an answer is: text, an optional short answer, and citations that are exact source spans.

A citation is only ever built from a stored document's text (``Citation.verified``), and can be
checked again against that document at any time (``verify``): a quote that does not reproduce
``document.text[start:end]`` is a bug, so it raises ``SpanMismatch`` instead of being shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qa.core.errors import SpanMismatch
from qa.core.types import Document, Hit

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
class AnswerSentence:
    """One sentence of a generated answer and whether the documents support it.

    ``citations`` are numbers of the answer's own citations (``Answer.citations``): the verified
    source sentence that supports it, empty when it is unsupported. ``passages`` are the passage
    numbers the model cited that exist (markers of passages that do not exist are dropped);
    ``support_score`` is the best candidate's score (docs/llm.md), -inf when there was none.
    """

    text: str
    citations: tuple[int, ...]
    supported: bool
    passages: tuple[int, ...] = ()
    support_score: float = float("-inf")

    def to_json(self) -> dict:
        score = self.support_score
        return {
            "text": self.text,
            "citations": list(self.citations),
            "supported": self.supported,
            "passages": list(self.passages),
            "support_score": round(float(score), 6) if math.isfinite(score) else None,
        }


@dataclass(frozen=True, slots=True)
class Generation:
    """What one model call cost: tokens and seconds of prompt processing and of generation.

    Token counts are the backend's own (llama.cpp's tokenizer, or the server's ``usage``); a
    server that reports none leaves them 0 and the streamed chunks are counted instead.
    """

    model: str
    prompt_tokens: int
    completion_tokens: int
    prompt_seconds: float
    generation_seconds: float

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "prompt_seconds": round(self.prompt_seconds, 4),
            "generation_seconds": round(self.generation_seconds, 4),
        }


# Answer.mode: how the text was made. "llm-fallback" is an LLM answer that could not be used (the
# backend failed, or no generated sentence was supported); the text is then the extractive one.
MODES = ("extractive", "llm", "llm-fallback")


@dataclass(frozen=True, slots=True)
class Answer:
    """The reply to one question; ``hits`` are the passages it was drawn from, kept even on abstention.

    ``evidence_score`` is the support the abstention decision compared with its threshold
    (``qa.answer.extractive.support``), -inf when there was no candidate sentence.
    LLM answers (``mode`` "llm") also carry their ``sentences`` and the ``generation`` figures;
    ``fallback_reason`` says why an "llm-fallback" answer shows the extractive text instead.
    """

    question: str
    rewritten_query: str
    text: str
    short_answer: ShortAnswer | None
    abstained: bool
    citations: tuple[Citation, ...]
    hits: tuple[Hit, ...]
    evidence_score: float
    mode: str = "extractive"
    sentences: tuple[AnswerSentence, ...] = ()
    fallback_reason: str | None = None
    generation: Generation | None = None

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
            "mode": self.mode,
        } | self._llm_json()

    def _llm_json(self) -> dict:
        if self.mode == "extractive":
            return {}
        extra: dict = {"sentences": [s.to_json() for s in self.sentences]}
        if self.fallback_reason is not None:
            extra["fallback_reason"] = self.fallback_reason
        if self.generation is not None:
            extra["generation"] = self.generation.to_json()
        return extra
