"""The short answer inside an evidence sentence: a phrase chosen by a small learned span ranker.

The question and the sentence are parsed with spaCy (qa/answer/short/nlp.py, one batch of two texts),
the sentence's candidate phrases are ranked (qa/answer/short/ranker.py, weights in
``weights.json`` beside it, made by ``python -m eval.train.short_answer``), and the phrase with
the highest expected F1 is returned when that expectation reaches the model's threshold; below it
there is no short answer. The regular-expression rules (qa/answer/short/rules.py) are one of the
ranker's features, and still type the evidence score (``question_kind``, ``has_phrase_of_kind``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qa.answer.short.nlp import parse, pipeline
from qa.answer.short.ranker import WEIGHTS, Model, ShortSpan, choose, featurize, load_model, read_question
from qa.answer.short.rules import question_kind, rule_short_answer
from qa.core.errors import QAError


@dataclass(frozen=True, slots=True)
class ShortAnswerFinder:
    """Short answers ranked with the weights in ``weights`` (the committed ones by default).

    The weights file is read once per path (``load_model`` caches it); spaCy loads on first use.
    """

    weights: Path = WEIGHTS

    def model(self) -> Model:
        if not self.weights.is_file():
            raise QAError(f"short-answer weights not found: {self.weights}")
        return load_model(self.weights)

    def warm_up(self) -> None:
        """Load the spaCy pipeline and the weights now, so the first question does not wait ~2 s for them."""
        pipeline()
        self.span("Who wrote it?", "It was written by Ada Lovelace in 1843.")

    def span(self, question: str, sentence: str, threshold: float | None = None) -> ShortSpan | None:
        """The short answer to ``question`` in ``sentence`` (offsets into the sentence) with its
        confidence, or None when none is confident enough (``threshold``: the model's own by
        default; 0 always answers when it can)."""
        if not question.strip() or not sentence.strip():
            return None
        m = self.model()
        qdoc, sdoc = parse([question, sentence])
        asked = read_question(question, qdoc, question_kind(question).name)
        choice = choose(featurize(asked, sdoc, rule_short_answer(question, sentence)), sentence, m.weights, m.mbr_top)
        if choice is None or choice.confidence < (m.threshold if threshold is None else threshold):
            return None
        return _without_stray_quotes(choice, sentence)


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
