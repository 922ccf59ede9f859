"""What an answer is: text, an optional short answer, and citations that are exact source spans.

A citation is only ever built from a stored document's text (``Citation.verified``), and an answer
can be checked again against the stored documents at any time (``Answer.verify``, the one check
that scoring, benchmarks and tests use): a quote that does not reproduce
``document.text[start:end]`` is a bug, so it raises ``SpanMismatch`` instead of being shown.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from qa.core.errors import SpanMismatch
from qa.core.types import Document, DocumentSource, Hit, Span

NO_ANSWER_TEXT = "The documents do not contain an answer to this question."


@dataclass(frozen=True, slots=True)
class Citation(Span):
    """Source ``[n]`` of an answer: a span of a stored document (``text`` is the quote shown)."""

    n: int

    @classmethod
    def verified(cls, n: int, document: Document, start: int, end: int) -> Citation:
        """The citation of ``document.text[start:end]``; SpanMismatch for an empty or out-of-range span."""
        return cls(**Span.located(document, start, end), n=n)

    def to_json(self) -> dict:
        return {"n": self.n} | self.location_json() | {"quote": self.text}


@dataclass(frozen=True, slots=True)
class ShortAnswer(Span):
    """A phrase answering the question (a name, a date, a number), as a span of a stored document."""

    @classmethod
    def verified(cls, document: Document, start: int, end: int) -> ShortAnswer:
        return cls(**Span.located(document, start, end))


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
    ``short_answer_confidence`` is the probability that the best short-answer phrase is right
    (qa/answer/short/confidence.py), None when no phrase was a candidate; the phrase is
    ``short_answer`` when that reached the threshold for showing it, else ``withheld_short_answer``
    (kept for evaluation, never shown nor in the JSON).
    ``answer_confidence`` is the calibrated probability that the cited evidence answers the
    question (qa/answer/abstention.py), None without a model calibrated for the embedder; an
    answer below its "sure" threshold is still given but ``low_confidence`` (shown as the closest
    passage), and below the abstain threshold the answerer abstains.
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
    short_answer_confidence: float | None = None
    withheld_short_answer: ShortAnswer | None = None
    answer_confidence: float | None = None
    low_confidence: bool = False

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
            "short_answer_confidence": None
            if self.short_answer_confidence is None
            else round(float(self.short_answer_confidence), 4),
            "abstained": self.abstained,
            "evidence_score": round(float(self.evidence_score), 6),
            "answer_confidence": None if self.answer_confidence is None else round(float(self.answer_confidence), 4),
            "low_confidence": self.low_confidence,
            "citations": [c.to_json() for c in self.citations],
            "hits": [h.to_json() for h in self.hits],
            "mode": self.mode,
        } | self._llm_json()

    def verify(self, documents: DocumentSource) -> None:
        """Raise SpanMismatch unless every citation and the short answer (shown or withheld) quote their
        stored document exactly."""
        spans: list[Span] = list(self.citations)
        spans += [s for s in (self.short_answer, self.withheld_short_answer) if s is not None]
        for span in spans:
            try:
                document = documents.document(span.doc_id)
            except KeyError:
                raise SpanMismatch(f"{span.doc_id!r} is cited but is not a stored document") from None
            span.verify(document)

    def _llm_json(self) -> dict:
        if self.mode == "extractive":
            return {}
        extra: dict = {"sentences": [s.to_json() for s in self.sentences]}
        if self.fallback_reason is not None:
            extra["fallback_reason"] = self.fallback_reason
        if self.generation is not None:
            extra["generation"] = self.generation.to_json()
        return extra


# Receives generated text as it comes (a streaming LLM answer); extractive answers generate nothing.
TokenSink = Callable[[str], None]


class Answerer(Protocol):
    """What answers a question: the extractive answerer, or the LLM answerer built on it.

    ``k`` passages are read (the answerer's default when None); ``query`` is what is searched when
    it differs from the question (a chat follow-up rewritten with the conversation).
    """

    def answer(
        self, question: str, k: int | None = None, query: str | None = None, on_token: TokenSink | None = None
    ) -> Answer: ...
