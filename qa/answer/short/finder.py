"""The short answer inside an evidence sentence: a phrase chosen by a small learned span ranker.

The question and the sentence are parsed with spaCy (qa/answer/short/nlp.py, one batch of two texts),
the sentence's candidate phrases are ranked (qa/answer/short/ranker.py, weights in
``short_answer_weights.json`` made by ``python -m eval.train.short_answer``), and the phrase with
the highest expected F1 is returned when that expectation reaches the model's threshold; below it
there is no short answer. The regular-expression rules (qa/answer/short/rules.py) are one of the
ranker's features, and still type the evidence score (``question_kind``, ``has_phrase_of_kind``).
"""

from __future__ import annotations

from pathlib import Path

from qa.answer.short.nlp import parse, pipeline
from qa.answer.short.ranker import Model, ShortSpan, choose, featurize, load_model, read_question
from qa.answer.short.rules import has_phrase_of_kind, question_kind, rule_short_answer
from qa.core.errors import QAError

__all__ = [
    "ShortSpan",
    "find_short_answer",
    "find_short_span",
    "has_phrase_of_kind",
    "question_kind",
    "rule_short_answer",
    "use_weights",
    "warm_up",
]

_weights: Path | None = None  # None: the committed weights


def model() -> Model:
    return load_model() if _weights is None else load_model(_weights)


def use_weights(path: Path | None) -> None:
    """Rank with the weights in ``path`` (None: the committed ones); for measuring other trainings."""
    global _weights
    if path is not None and not path.is_file():
        raise QAError(f"short-answer weights not found: {path}")
    _weights = path


def warm_up() -> None:
    """Load the spaCy pipeline and the weights now, so the first question does not wait ~2 s for them."""
    pipeline()
    model()
    find_short_span("Who wrote it?", "It was written by Ada Lovelace in 1843.")


def find_short_span(question: str, sentence: str, threshold: float | None = None) -> ShortSpan | None:
    """The short answer to ``question`` in ``sentence`` with its confidence, or None when none is
    confident enough (``threshold``: the model's own by default; 0 always answers when it can)."""
    if not question.strip() or not sentence.strip():
        return None
    m = model()
    qdoc, sdoc = parse([question, sentence])
    asked = read_question(question, qdoc, question_kind(question).name)
    choice = choose(featurize(asked, sdoc, rule_short_answer(question, sentence)), sentence, m.weights, m.mbr_top)
    if choice is None or choice.confidence < (m.threshold if threshold is None else threshold):
        return None
    return choice


def find_short_answer(question: str, sentence: str) -> tuple[int, int] | None:
    """Span ``(start, end)`` of ``sentence`` answering ``question``, or None when none is confident."""
    span = find_short_span(question, sentence)
    return None if span is None else (span.start, span.end)
