"""Answers written by a language model, each sentence checked against the passage it cites.

``LLMAnswerer`` wraps the extractive answerer: it retrieves and weighs the evidence first, and
when the extractive answerer abstains it abstains too, without generating. Otherwise the model
answers from the numbered passages (streamed to ``on_token``), and every sentence it wrote is
verified (qa/llm/grounding.py). The extractive answer is kept as the fallback: it is returned, with
``mode="llm-fallback"`` and the reason, when the backend fails (LLMError) or when no generated
sentence is supported by the passages.
"""

from __future__ import annotations

import dataclasses

from qa.answer.extractive import ExtractiveAnswerer
from qa.core.answers import Answer, TokenSink
from qa.core.errors import LLMError
from qa.llm.backend import LLMBackend
from qa.llm.grounding import (
    GroundingSettings,
    answer_text,
    build_messages,
    find_support,
    grounded_sentences,
    split_claims,
)

NOTHING_SUPPORTED = "no sentence of the language model's answer is supported by the passages"


class LLMAnswerer:
    def __init__(
        self, extractive: ExtractiveAnswerer, backend: LLMBackend, grounding: GroundingSettings = GroundingSettings()
    ) -> None:
        self.extractive = extractive
        self.backend = backend
        self.grounding = grounding

    def answer(
        self, question: str, k: int | None = None, query: str | None = None, on_token: TokenSink | None = None
    ) -> Answer:
        """Answer ``question`` with the model; ``on_token`` receives the generated text as it comes.

        ``query`` is what is searched (a rewritten chat follow-up); the model is asked the query,
        which carries the conversation's context, while abstention is decided on the question.
        """
        base = self.extractive.answer(question, k=k, query=query)
        if base.abstained:
            return dataclasses.replace(base, mode="llm")
        hits = list(base.hits)
        messages = build_messages(base.rewritten_query, hits, self.grounding)
        try:
            completion = self.backend.generate(messages, on_token)
        except LLMError as exc:
            return dataclasses.replace(
                base, mode="llm-fallback", fallback_reason=f"the language model failed: {exc}; extractive answer shown"
            )
        claims = split_claims(completion.text, len(hits))
        supports = find_support(claims, hits, self.extractive.embedder, self.grounding)
        sentences, citations = grounded_sentences(supports, self.extractive.retriever.index)
        if not citations:
            return dataclasses.replace(
                base,
                mode="llm-fallback",
                sentences=sentences,
                fallback_reason=f"{NOTHING_SUPPORTED}; extractive answer shown",
                generation=completion.generation,
            )
        return Answer(
            question=question,
            rewritten_query=base.rewritten_query,
            text=answer_text(sentences),
            short_answer=None,
            abstained=False,
            citations=citations,
            hits=base.hits,
            evidence_score=base.evidence_score,
            answer_confidence=base.answer_confidence,  # the evidence the model was given: as sure as that
            low_confidence=base.low_confidence,
            mode="llm",
            sentences=sentences,
            generation=completion.generation,
        )
