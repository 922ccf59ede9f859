"""The short answer inside an evidence sentence: a phrase chosen by a small learned span ranker.

The question and the sentence are parsed with spaCy (qa/answer/short/nlp.py, one batch of two texts),
the sentence's candidate phrases are ranked (qa/answer/short/ranker.py, weights in
``weights.json`` beside it, made by ``python -m eval.train.short_answer``), and the phrase with
the highest expected F1 is returned when that expectation reaches the model's threshold; below it
there is no short answer. The regular-expression rules (qa/answer/short/rules.py) are one of the
ranker's features, and still type the evidence score (``question_kind``, ``has_phrase_of_kind``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from qa.answer.short.confidence import SHOW_ABOVE, EvidenceSignals, confidence
from qa.answer.short.nlp import parse, pipeline
from qa.answer.short.ranker import WEIGHTS, Model, Ranked, ShortSpan, featurize, load_model, rank, read_question
from qa.answer.short.rules import question_kind, rule_short_answer
from qa.core.errors import QAError


@dataclass(frozen=True, slots=True)
class ShortCandidate:
    """The best phrase of a sentence (offsets into it), the probability that it is right
    (``confidence``, qa/answer/short/confidence.py), and whether that is enough to show it."""

    start: int
    end: int
    confidence: float
    shown: bool


@dataclass(frozen=True, slots=True)
class ShortAnswerFinder:
    """Short answers ranked with the weights in ``weights`` (the committed ones by default), shown
    when their calibrated confidence reaches ``show_above`` (``SHOW_ABOVE`` by default; 0 shows
    every candidate).

    The weights file is read once per path (``load_model`` caches it); spaCy loads on first use.
    """

    weights: Path = WEIGHTS
    show_above: float = SHOW_ABOVE

    def __post_init__(self) -> None:
        if not (math.isfinite(self.show_above) and 0.0 <= self.show_above <= 1.0):
            raise QAError(f"show_above must be a probability between 0 and 1, got {self.show_above}")

    def model(self) -> Model:
        if not self.weights.is_file():
            raise QAError(f"short-answer weights not found: {self.weights}")
        return load_model(self.weights)

    def warm_up(self) -> None:
        """Load the spaCy pipeline and the weights now, so the first question does not wait ~2 s for them."""
        pipeline()
        self.span("Who wrote it?", "It was written by Ada Lovelace in 1843.")

    def rank(self, question: str, sentence: str) -> Ranked | None:
        """The ranker's choice in ``sentence`` with its margins, whatever its expected F1; None without candidates."""
        if not question.strip() or not sentence.strip():
            return None
        m = self.model()
        qdoc, sdoc = parse([question, sentence])
        asked = read_question(question, qdoc, question_kind(question).name)
        ranked = rank(featurize(asked, sdoc, rule_short_answer(question, sentence)), sentence, m.weights, m.mbr_top)
        if ranked is None:
            return None
        return dataclasses.replace(ranked, span=_without_stray_quotes(ranked.span, sentence))

    def judge(self, ranked: Ranked, evidence: EvidenceSignals = EvidenceSignals()) -> ShortCandidate:
        """``ranked``'s span with its calibrated confidence, shown when that reaches ``show_above``."""
        p = confidence(ranked, evidence)
        return ShortCandidate(ranked.span.start, ranked.span.end, p, p >= self.show_above)

    def candidate(
        self, question: str, sentence: str, evidence: EvidenceSignals = EvidenceSignals()
    ) -> ShortCandidate | None:
        """The short answer to ``question`` in ``sentence`` with the probability that it is right
        (``evidence``: what the answerer knows of the sentence), or None when there is no candidate."""
        ranked = self.rank(question, sentence)
        return None if ranked is None else self.judge(ranked, evidence)

    def span(self, question: str, sentence: str, threshold: float | None = None) -> ShortSpan | None:
        """The ranker's short answer to ``question`` in ``sentence`` (offsets into the sentence) with
        its expected F1, or None when that is below ``threshold`` (the model's own by default; 0
        always answers when it can). Not calibrated: ``candidate`` is what the answerer uses."""
        ranked = self.rank(question, sentence)
        if ranked is None or ranked.expected_f1 < (self.model().threshold if threshold is None else threshold):
            return None
        return ranked.span


# spaCy leaves a closing backtick or quote on a token ("`qa index update`" -> "update`").
_QUOTES = "`\"'“”‘’"


def _without_stray_quotes(span: ShortSpan, sentence: str) -> ShortSpan:
    """``span`` without quote marks at its edges that have no partner inside it."""
    start, end = span.start, span.end
    while end - start > 1 and sentence[end - 1] in _QUOTES and sentence[start:end].count(sentence[end - 1]) % 2:
        end -= 1
    while end - start > 1 and sentence[start] in _QUOTES and sentence[start:end].count(sentence[start]) % 2:
        start += 1
    return span if (start, end) == (span.start, span.end) else ShortSpan(start, end, span.confidence)
