"""The span to cite: the best evidence sentence, with what it needs around it.

The best-scored sentence is not always the whole answer (docs/benchmarks.md "Evidence spans"):
- a heading or a FAQ's question repeats the question's words without answering it; when one
  wins, it is quoted together with the sentence under it (and that sentence's continuation),
  as one span from the heading to the end of the answer; a lead-in ending in ":" is quoted with
  the sentence after it;
- an answer may take two sentences ("Several IRC channels are dedicated to Debian's
  development. They are mainly hosted on the OFTC network."). Every two adjacent candidate
  sentences are also scored as one unit, with the evidence weights over their joint features
  (``pair_scores``), and the unit wins when it beats every single sentence by ``pair_margin``,
  or by ``continued_margin`` when the second continues the first (it opens with a pronoun or a
  connective) or the first leads in to it.
A span is characters ``[start, end)`` of the stored document, so it is cited as exactly as one
sentence. The margins were chosen on half of the real-documents gold set and checked on the
other half, the guide and SQuAD (eval/bench/spans.py); they are measured constants, not settings.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from index.sentences import sentence_spans
from qa.answer.shapes import Shape, continues, shape
from qa.core.errors import QAError

if TYPE_CHECKING:
    from qa.answer.evidence import EvidenceWeights

# How far after a heading its answer is looked for, in characters.
_BELOW = 1500
# Headings skipped to reach the answer: a FAQ's question may be split into a few sentences.
_MAX_HEADINGS = 3


class Located(Protocol):
    """A candidate sentence: characters ``[start, end)`` of ``doc_id``, and its text."""

    doc_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class SpanRule:
    """What a unit of two sentences must gain over the best single sentence to be cited instead."""

    pair_margin: float = 0.3
    continued_margin: float = 0.1

    def __post_init__(self) -> None:
        for name in ("pair_margin", "continued_margin"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise QAError(f"{name} must be a finite number >= 0, got {value}")


RULE = SpanRule()


@dataclass(frozen=True, slots=True)
class EvidenceSpan:
    """Characters ``[start, end)`` of ``doc_id`` to cite; the answer proper starts at
    ``answer_start`` (after a heading quoted with it) and is where a short answer is looked for."""

    doc_id: str
    start: int
    end: int
    answer_start: int
    sentences: int


@dataclass(frozen=True, slots=True)
class SentenceParts:
    """Per candidate sentence (rows in candidate order), what its evidence score is made of."""

    best: np.ndarray  # (sentences, question tokens) best token matches, NaN rows without tokens
    terms: list[set[str]]  # content terms
    term_weights: dict[str, float]  # the question's terms, each weighted by its rarity (overlap)
    retrieval: np.ndarray
    typed: np.ndarray


def adjacent_pairs(sentences: Sequence[Located], text_of: Callable[[str], str]) -> list[tuple[int, int]]:
    """``(i, j)``: candidate j is the sentence right after candidate i in their document (only
    whitespace between them)."""
    by_position = sorted(range(len(sentences)), key=lambda i: (sentences[i].doc_id, sentences[i].start))
    pairs = []
    for i, j in itertools.pairwise(by_position):
        a, b = sentences[i], sentences[j]
        if a.doc_id == b.doc_id and b.start >= a.end and not text_of(a.doc_id)[a.end : b.start].strip():
            pairs.append((i, j))
    return pairs


def pooled_similarity(
    vectors: np.ndarray, counts: np.ndarray, question: np.ndarray, pairs: list[tuple[int, int]]
) -> np.ndarray:
    """Each pair's cosine with the question, its vector the token-count-weighted mean of its two
    sentences' stored vectors (as the pair's tokens pooled in one span would be)."""
    if not pairs:
        return np.zeros(0)
    first, second = (np.array(side, dtype=np.int64) for side in zip(*pairs, strict=True))
    weights = np.asarray(counts, dtype=np.float32)
    joint = weights[first, None] * vectors[first] + weights[second, None] * vectors[second]
    norms = np.linalg.norm(joint, axis=1)
    return (joint @ question) / np.where(norms > 0, norms, 1.0)


def pair_scores(
    parts: SentenceParts,
    pairs: list[tuple[int, int]],
    similarity: np.ndarray,
    similarity_weight: float,
    w: EvidenceWeights,
) -> np.ndarray:
    """The evidence score of each pair read as one passage: ``similarity_weight`` times its
    ``similarity`` with the question, each question token's best match over both sentences, the
    content terms of both, the better retrieval and type."""
    if not pairs:
        return np.zeros(0)
    first, second = (np.array(side, dtype=np.int64) for side in zip(*pairs, strict=True))
    matches = np.zeros(len(pairs))
    if parts.best.shape[1]:
        best = np.fmax(parts.best[first], parts.best[second])
        present = ~np.isnan(best[:, 0])
        matches[present] = best[present].mean(axis=1)
    total = sum(parts.term_weights.values()) or 1.0
    overlap = np.array(
        [
            sum(v for t, v in parts.term_weights.items() if t in parts.terms[i] or t in parts.terms[j]) / total
            for i, j in pairs
        ]
    )
    retrieval = np.maximum(parts.retrieval[first], parts.retrieval[second])
    typed = np.maximum(parts.typed[first], parts.typed[second])
    return (
        similarity_weight * similarity
        + w.tokens * matches
        + w.overlap * overlap
        + w.retrieval * retrieval
        + w.typed * typed
    )


def choose(
    sentences: Sequence[Located],
    scores: np.ndarray,
    pairs: list[tuple[int, int]],
    paired: np.ndarray,
    text_of: Callable[[str], str],
    rule: SpanRule = RULE,
) -> EvidenceSpan | None:
    """The span to cite among ``sentences`` scored ``scores`` (-inf: not a candidate) and their
    adjacent ``pairs`` scored ``paired``; None without candidates."""
    if not len(sentences) or not np.isfinite(scores).any():
        return None
    shapes: dict[int, Shape] = {}

    def shape_of(i: int) -> Shape:
        if i not in shapes:
            s = sentences[i]
            shapes[i] = shape(text_of(s.doc_id), s.start, s.end)
        return shapes[i]

    best = int(np.argmax(scores))  # the first of equals, as the evidence order
    first, last, top = best, best, float(scores[best])
    for (i, j), score in zip(pairs, paired, strict=True):
        if not (np.isfinite(scores[i]) and np.isfinite(scores[j])) or score <= top:
            continue
        joined = continues(sentences[j].text) or shape_of(i).lead_in
        adjusted = score - (rule.continued_margin if joined else rule.pair_margin)
        if adjusted > top and not shape_of(i).heading and not shape_of(j).heading:
            first, last, top = i, j, adjusted
    a, b = sentences[first], sentences[last]
    if first == last:
        own = shape_of(first)
        if own.heading or own.lead_in:
            return _with_what_follows(a, text_of(a.doc_id), skip_headings=own.heading)
    return EvidenceSpan(a.doc_id, a.start, b.end, a.start, 1 if first == last else 2)


def _with_what_follows(sentence: Located, text: str, skip_headings: bool) -> EvidenceSpan:
    """``sentence`` (a heading or a lead-in) quoted with the sentence after it: for a heading, the
    first that is not itself a heading, and its continuation when the next one continues it."""
    following = [
        (sentence.end + s, sentence.end + e) for s, e in sentence_spans(text[sentence.end : sentence.end + _BELOW])
    ]
    # The window may cut its last sentence short; a cut one is never quoted.
    if following and sentence.end + _BELOW < len(text):
        following.pop()
    k = 0
    while skip_headings and k < min(len(following), _MAX_HEADINGS) and shape(text, *following[k]).heading:
        k += 1
    if k >= len(following) or shape(text, *following[k]).heading:
        return EvidenceSpan(sentence.doc_id, sentence.start, sentence.end, sentence.start, 1)
    answer_start, end = following[k]
    sentences = k + 2
    if skip_headings and k + 1 < len(following):
        after = following[k + 1]
        if continues(text[after[0] : after[1]]) and not shape(text, *after).heading:
            end, sentences = after[1], sentences + 1
    return EvidenceSpan(sentence.doc_id, sentence.start, end, answer_start, sentences)
