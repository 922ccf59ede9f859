"""Retrieval and answer metrics over ids and strings, and a percentile for latency reports.

Pure functions: callers turn chunk hits into a document ranking (``dedupe``) and pass gold ids,
so every number here can be checked by hand. Retrieval definitions follow BEIR / pytrec_eval
(trec_eval's ``recall_k`` and ``ndcg_cut_k``) so our figures are comparable with published ones;
answer strings are compared after the official SQuAD normalisation (eval/squad.py).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from eval.squad import normalize_answer


def dedupe(ranked: Iterable[str]) -> list[str]:
    """First occurrence of each id, in order: several chunks of one document make one document hit."""
    # dict keeps insertion order, so this is an ordered set.
    return list(dict.fromkeys(ranked))


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be >= 1, got k={k}")


def _check_relevant(relevant: Collection[str]) -> None:
    # A question without relevant documents has no defined recall; averaging it in as 0 or 1
    # would silently skew the mean, so the caller must filter such questions out.
    if not relevant:
        raise ValueError(f"relevant must not be empty, got relevant={relevant!r}")


def recall_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """|relevant ∩ ranked[:k]| / |relevant| (BEIR's Recall@k); duplicates in ``ranked`` count once."""
    _check_k(k)
    _check_relevant(relevant)
    gold = set(relevant)
    return len(gold.intersection(ranked[:k])) / len(gold)


def hit_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """1.0 if any relevant id is in ranked[:k] else 0.0 (the "R@k" of one-gold-paragraph SQuAD)."""
    _check_k(k)
    _check_relevant(relevant)
    gold = set(relevant)
    return 1.0 if any(doc_id in gold for doc_id in ranked[:k]) else 0.0


def mrr_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """1 / rank of the first relevant id within ranked[:k] (rank is 1-based), 0.0 if none."""
    _check_k(k)
    _check_relevant(relevant)
    gold = set(relevant)
    for rank, doc_id in enumerate(ranked[:k], start=1):
        if doc_id in gold:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Sequence[str], relevance: Mapping[str, int], k: int) -> float:
    """nDCG@k exactly as trec_eval's ``ndcg_cut`` (what pytrec_eval and BEIR report).

    Gain is the graded relevance itself (not 2^rel - 1) and only positive grades count, as in
    trec_eval; the discount is log2(rank + 1) with 1-based rank. The ideal DCG sorts every
    judged document with relevance > 0, whether retrieved or not, and truncates at k.
    Duplicates in ``ranked`` are dropped before cutting at k, as they would be for a ranking
    of distinct documents.
    """
    _check_k(k)
    ideal_gains = sorted((rel for rel in relevance.values() if rel > 0), reverse=True)[:k]
    if not ideal_gains:
        raise ValueError(f"relevance has no document with relevance > 0: {dict(relevance)!r}")
    dcg = 0.0
    for i, doc_id in enumerate(dedupe(ranked)[:k]):
        gain = relevance.get(doc_id, 0)
        if gain > 0:
            dcg += gain / math.log2(i + 2)
    idcg = sum(gain / math.log2(i + 2) for i, gain in enumerate(ideal_gains))
    return dcg / idcg


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation, matching ``numpy.percentile``."""
    if not values:
        raise ValueError(f"percentile of an empty sequence (q={q})")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be in [0, 100], got q={q}")
    if any(math.isnan(v) for v in values):
        # Sorting with NaN is undefined in Python; numpy would return NaN. Refuse instead.
        raise ValueError("percentile of values containing NaN")
    ordered = sorted(values)
    position = (len(ordered) - 1) * (q / 100.0)
    lo = math.floor(position)
    hi = min(lo + 1, len(ordered) - 1)
    t = position - lo
    a, b = ordered[lo], ordered[hi]
    # numpy's _lerp: interpolate from the nearer end, which keeps results exact at t = 0 and 1.
    if t >= 0.5:
        return float(b - (b - a) * (1.0 - t))
    return float(a + (b - a) * t)


def evidence_contains(quote: str, answers: Sequence[str]) -> bool:
    """Whether a gold answer occurs in ``quote`` as whole tokens, both normalised as the SQuAD scorer does.

    Gold answers that normalise to nothing ("the") never match: they would match any quote.
    """
    padded = f" {normalize_answer(quote)} "
    return any(gold and f" {gold} " in padded for gold in map(normalize_answer, answers))


@dataclass(frozen=True, slots=True)
class Abstention:
    """Abstaining as a classifier of unanswerable questions (abstaining is the positive class)."""

    precision: float  # of the questions abstained on, the share that were unanswerable
    recall: float  # of the unanswerable questions, the share abstained on
    f1: float
    abstained: int
    unanswerable: int


def abstention_scores(abstained: Sequence[bool], unanswerable: Sequence[bool]) -> Abstention:
    """Precision, recall and F1 of abstaining; one pair per question.

    An undefined ratio (no abstentions, or no unanswerable questions) counts as 0.0, as
    scikit-learn's ``zero_division=0``: never abstaining must not look perfect.
    """
    if len(abstained) != len(unanswerable):
        raise ValueError(f"{len(abstained)} abstention flags for {len(unanswerable)} questions")
    true_pos = sum(a and u for a, u in zip(abstained, unanswerable))
    n_abstained, n_unanswerable = sum(abstained), sum(unanswerable)
    precision = true_pos / n_abstained if n_abstained else 0.0
    recall = true_pos / n_unanswerable if n_unanswerable else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Abstention(precision, recall, f1, n_abstained, n_unanswerable)
