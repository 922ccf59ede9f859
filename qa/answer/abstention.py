"""Does the best evidence answer the question? A calibrated probability, read by the answerer.

Support (``qa.answer.extractive.support``) says whether the passages are on the question's topic;
a near-domain question (the topic is in the documents, the answer is not: "How many stations does
the Warsaw Metro have?" over an article on Warsaw) finds a sentence on its topic and passes it.
``probability`` reads more of the winning sentence: how many of the question's content words it
holds, whether its weakest-matched question tokens still find a match in it, whether it holds a
phrase of the kind asked for (a number for "how many"), whether the asked words are in the
passages at all, its evidence score and how far it stands above the next sentence. A logistic
model of these ``Signals`` with constants fitted by ``eval/bench/abstention.py`` on the "tune"
half of its sets (docs/answers.md "Abstention") gives the probability that the evidence answers; the answerer
abstains below ``ABSTAIN_PROBABILITY`` and marks an answer low-confidence below
``SURE_PROBABILITY``. The constants hold for all-MiniLM-L6-v2 only (its cosines and token
matches), as the support threshold does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields

import numpy as np

from index.embedding import MINILM_NAME, QueryVectors
from index.store import StoredIndex
from index.token_signs import best_matches
from qa.answer.evidence import Evidence, stored_rows
from qa.answer.short.rules import has_phrase_of_kind, question_kind
from qa.answer.terms import content_terms
from qa.core.types import Hit


@dataclass(frozen=True, slots=True)
class Signals:
    """What the decision reads of one answer's evidence; all plain numbers (cached by the bench)."""

    support: float  # the winner's cosine + 0.5 * overlap (qa.answer.extractive.support)
    cosine: float  # MiniLM's, question and winner embedded alone
    overlap: float  # rarity-weighted share of the question's content words in the winner
    token_match: float  # the question tokens' best matches in the winner, averaged
    token_floor: float  # the same, averaged over the weakest third of the question's tokens
    coverage: float  # plain share of the question's content words in the winner
    found: float  # share of the question's content words found anywhere in the passages
    kind_missing: float  # 1: the question asks for a kind (a number, a date, a name) the winner lacks
    gap: float  # the winner's evidence score minus the runner-up's (GAP_CAP when alone)
    score: float  # the winner's evidence score (qa/answer/evidence.py)


GAP_CAP = 2.0  # a larger gap says nothing more; also the gap of a lone candidate


def signals(
    question: str,
    evidence: Sequence[Evidence],
    passages: Sequence[str],
    matches: np.ndarray,
    support: float,
) -> Signals:
    """The signals of ``evidence`` (best first, not empty) for ``question``.

    ``passages`` are the texts of the passages read; ``matches`` the question tokens' best
    matches in the winner (``winner_matches``; empty without stored token signs).
    """
    best = evidence[0]
    asked = content_terms(question)
    own = content_terms(best.text)
    everywhere = set().union(*(content_terms(p) for p in passages)) if passages else own
    coverage = len(asked & own) / len(asked) if asked else 1.0
    found = len(asked & everywhere) / len(asked) if asked else 1.0
    kind = question_kind(question)
    missing = float(bool(kind.patterns) and not has_phrase_of_kind(kind, best.text, asked))
    gap = min(GAP_CAP, best.score - evidence[1].score) if len(evidence) > 1 else GAP_CAP
    floor = best.token_match
    values = np.sort(np.asarray(matches, dtype=np.float64)[np.isfinite(matches)]) if len(matches) else np.zeros(0)
    if len(values):
        floor = float(values[: max(1, len(values) // 3)].mean())
    cosine = best.cosine if math.isfinite(best.cosine) else support
    return Signals(support, cosine, best.overlap, best.token_match, floor, coverage, found, missing, gap, best.score)


def winner_matches(index: StoredIndex, hits: Sequence[Hit], best: Evidence, vectors: QueryVectors) -> np.ndarray:
    """Each question token's best match among the winner's stored token signs (empty without them)."""
    if index.sentence_tokens is None:
        return np.zeros(0)
    rows = stored_rows(index, list(hits), [best])
    if rows is None:
        return np.zeros(0)
    bits, counts = index.sentence_tokens.of(rows)
    return best_matches(vectors.tokens, bits, counts)[0].astype(np.float64)


@dataclass(frozen=True, slots=True)
class Model:
    """A logistic model over standardised ``Signals``: ``sigmoid(bias + sum(w * (x - mean) / scale))``."""

    bias: float
    weights: tuple[float, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]

    def probability(self, s: Signals) -> float:
        z = self.bias + sum(
            w * (x - m) / d for w, x, m, d in zip(self.weights, astuple(s), self.means, self.scales, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


SIGNALS = tuple(f.name for f in fields(Signals))

# Fitted by ``python -m eval.bench.abstention --fit`` on the tune half of its sets, each group
# (answerable and not, per set) weighing the same (docs/answers.md "Abstention"). The signals are
# correlated (the evidence score holds the token match and the cosine), so a weight is read only
# with the others: alone, every signal but kind_missing is higher for questions the passages answer.
MODEL = Model(
    bias=0.5118,
    weights=(0.2859, 0.5825, -0.1441, 0.2585, 1.5083, 0.6, 0.6239, -0.1101, 0.0874, -1.524),
    means=(0.9018, 0.6113, 0.5811, 0.4874, 0.3469, 0.6501, 0.8112, 0.0584, 0.7764, 3.8159),
    scales=(0.2541, 0.1599, 0.2847, 0.0886, 0.0965, 0.2573, 0.2105, 0.2345, 0.5961, 0.8607),
)
# The embedders the model was fitted for: the answerer computes no probability with another one.
CALIBRATED = frozenset({MINILM_NAME})
ABSTAIN_PROBABILITY = 0.14  # below: abstain (with support below 0.5, as before)
SURE_PROBABILITY = 0.48  # below (and at or above ABSTAIN_PROBABILITY): answered, marked low-confidence


def probability(s: Signals, model: Model = MODEL) -> float:
    """The calibrated probability that the evidence these signals describe answers the question."""
    return model.probability(s)


def answer_probability(
    index: StoredIndex,
    question: str,
    hits: Sequence[Hit],
    evidence: Sequence[Evidence],
    vectors: QueryVectors,
    support: float,
) -> float:
    """``probability`` of the signals of ``evidence`` (best first) for ``question``; 0 without candidates."""
    if not evidence:
        return 0.0
    matches = winner_matches(index, hits, evidence[0], vectors)
    return probability(signals(question, evidence, [h.text for h in hits], matches, support))
