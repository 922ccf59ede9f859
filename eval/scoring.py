"""One question's scores, and the run's metrics as means over the questions each metric applies to.

A metric applies to a question only when the gold data can judge it: retrieval needs relevant
documents and an answerable question, EM/F1 need gold answers (or an unanswerable question, whose
only right answer is ""), evidence accuracy needs gold answers. Every figure is recomputed from the
per-question records, so a run folder's ``per_question.jsonl`` is enough to check ``metrics.json``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from eval.metrics import (
    abstention_scores,
    evidence_contains,
    hit_at_k,
    mrr_at_k,
    ndcg_at_k,
    percentile,
    recall_at_k,
)
from eval.questions import GoldQuestion
from eval.squad import exact_match, f1
from qa.core.answers import Answer
from qa.core.errors import SpanMismatch
from qa.core.types import DocumentSource

K_VALUES = (1, 5, 10)
DEPTH = 10  # documents kept per question: enough for R@10, MRR@10, nDCG@10
SHORT_RIGHT_F1 = 0.5  # a short answer is counted right when its F1 against the gold answers reaches this

HIGHER, LOWER, INFO = "higher", "lower", "info"
# Which way is better for each metric; the regression gate uses it. "info" figures describe the
# run (how often it abstained) without one direction being better, so they are never gated.
DIRECTION: dict[str, str] = {
    **{f"retrieval.recall@{k}": HIGHER for k in K_VALUES},
    "retrieval.mrr@10": HIGHER,
    "retrieval.ndcg@10": HIGHER,
    "answer.exact": HIGHER,
    "answer.f1": HIGHER,
    "answer.evidence_accuracy": HIGHER,
    "answer.citation_exactness": HIGHER,
    "answer.short_answer_rate": INFO,
    "answer.short_answer_precision": INFO,
    "answer.abstained_rate": INFO,
    "abstention.precision": HIGHER,
    "abstention.recall": HIGHER,
    "abstention.f1": HIGHER,
    "latency.p50_ms": LOWER,
    "latency.p95_ms": LOWER,
    # LLM runs only (qa eval --llm, docs/llm.md)
    "answer.unsupported_share": LOWER,
    "answer.llm_fallback_rate": INFO,
    "llm.generation_tokens_per_s": INFO,
    "llm.prompt_tokens_per_s": INFO,
}


@dataclass(frozen=True, slots=True)
class QuestionResult:
    """What one question got and how it scored. ``scores`` and ``passed`` hold applicable metrics only."""

    gold: GoldQuestion
    answer: dict  # Answer.to_json() without the passages
    retrieved: tuple[str, ...]  # the top DEPTH document ids, best first
    latency_ms: float
    scores: dict[str, float]
    passed: dict[str, bool]

    def to_json(self) -> dict:
        g = self.gold
        return {
            "id": g.qid,
            "question": g.question,
            "conversation_id": g.conversation_id,
            "turn": g.turn,
            "gold": {
                "answers": list(g.answers),
                "doc_ids": list(g.doc_ids),
                "answerable": g.answerable,
                "relevance": [list(pair) for pair in g.relevance],
            },
            "answer": self.answer,
            "retrieved": list(self.retrieved),
            "latency_ms": round(self.latency_ms, 3),
            "scores": {k: round(v, 6) for k, v in self.scores.items()},
            "pass": self.passed,
        }

    @classmethod
    def from_json(cls, data: dict) -> QuestionResult:
        gold = data["gold"]
        question = GoldQuestion(
            qid=data["id"],
            question=data["question"],
            answers=tuple(gold["answers"]),
            doc_ids=tuple(gold["doc_ids"]),
            answerable=gold["answerable"],
            relevance=tuple((d, int(s)) for d, s in gold["relevance"]),
            conversation_id=data["conversation_id"],
            turn=data["turn"],
        )
        return cls(question, data["answer"], tuple(data["retrieved"]), data["latency_ms"], data["scores"], data["pass"])

    @property
    def abstained(self) -> bool:
        return bool(self.answer["abstained"])

    @property
    def evidence_score(self) -> float | None:
        return self.answer["evidence_score"]


def prediction(answer: Answer) -> str:
    """The text scored by EM/F1: the short answer, "" when abstained or no short answer was found.

    The evidence sentence is not a fallback: scoring a whole sentence against a short gold phrase
    rewards length, and "" keeps the figure comparable with the official SQuAD scorer. An LLM
    answer (mode "llm") is scored by what the model said: all its sentences, markers removed,
    supported or not (docs/llm.md); an "llm-fallback" answer by its extractive short answer.
    """
    if answer.abstained:
        return ""
    if answer.mode == "llm":
        return " ".join(s.text for s in answer.sentences)
    if answer.short_answer is None:
        return ""
    return answer.short_answer.text


def score_question(
    gold: GoldQuestion, answer: Answer, retrieved: Sequence[str], documents: DocumentSource, latency_ms: float
) -> QuestionResult:
    """Score one answer; ``documents`` are the stored documents (read afresh from the index on disk)."""
    ranked = list(retrieved[:DEPTH])
    scores: dict[str, float] = {}
    passed: dict[str, bool] = {}
    if gold.answerable and gold.doc_ids:
        relevance = dict(gold.relevance) or dict.fromkeys(gold.doc_ids, 1)
        for k in K_VALUES:
            scores[f"recall@{k}"] = recall_at_k(ranked, gold.doc_ids, k)
            passed[f"hit@{k}"] = hit_at_k(ranked, gold.doc_ids, k) == 1.0
        scores["mrr@10"] = mrr_at_k(ranked, gold.doc_ids, 10)
        scores["ndcg@10"] = ndcg_at_k(ranked, relevance, 10)
    if gold.answers or not gold.answerable:
        predicted = prediction(answer)
        scores["exact"] = exact_match(predicted, gold.answers)
        scores["f1"] = f1(predicted, gold.answers)
        passed["exact"] = scores["exact"] == 1.0
    candidate = answer.short_answer or answer.withheld_short_answer
    if gold.answers and candidate is not None and not answer.abstained:
        # The phrase found, shown or withheld: the report's precision/coverage curve of short answers.
        scores["short_candidate_f1"] = f1(candidate.text, gold.answers)
    if gold.answers:
        first = answer.citations[0].text if answer.citations and not answer.abstained else ""
        passed["evidence"] = evidence_contains(first, gold.answers)
        scores["evidence"] = float(passed["evidence"])
    passed["citations"] = _verifies(answer, documents)
    scores["citations"] = float(passed["citations"])
    passed["abstention"] = answer.abstained == (not gold.answerable)
    record = answer.to_json()
    record.pop("hits")
    if not math.isfinite(answer.evidence_score):
        record["evidence_score"] = None  # no candidate sentence at all; JSON has no -Infinity
    return QuestionResult(gold, record, tuple(ranked), latency_ms, scores, passed)


def _verifies(answer: Answer, documents: DocumentSource) -> bool:
    """Every citation quote (and the short answer) is its stored document's text[start:end]."""
    try:
        answer.verify(documents)
    except SpanMismatch:
        return False
    return True


def _mean(results: Sequence[QuestionResult], key: str) -> tuple[float, int] | None:
    values = [r.scores[key] for r in results if key in r.scores]
    return (sum(values) / len(values), len(values)) if values else None


def summarise(results: Sequence[QuestionResult]) -> tuple[dict[str, float], dict[str, int]]:
    """``(metrics, counts)``: each metric of DIRECTION that applies, and how many questions it averages."""
    if not results:
        raise ValueError("no questions to summarise")
    metrics: dict[str, float] = {}
    counts: dict[str, int] = {}
    names = {f"recall@{k}": f"retrieval.recall@{k}" for k in K_VALUES}
    names |= {"mrr@10": "retrieval.mrr@10", "ndcg@10": "retrieval.ndcg@10", "exact": "answer.exact"}
    names |= {"f1": "answer.f1", "evidence": "answer.evidence_accuracy", "citations": "answer.citation_exactness"}
    for key, name in names.items():
        mean = _mean(results, key)
        if mean is not None:
            metrics[name], counts[name] = mean
    n = len(results)
    metrics["answer.short_answer_rate"] = sum(r.answer["short_answer"] is not None for r in results) / n
    metrics["answer.abstained_rate"] = sum(r.abstained for r in results) / n
    counts["answer.short_answer_rate"] = counts["answer.abstained_rate"] = n
    shown = [
        r.scores["short_candidate_f1"]
        for r in results
        if r.answer["short_answer"] is not None and "short_candidate_f1" in r.scores
    ]
    if shown:
        metrics["answer.short_answer_precision"] = sum(f >= SHORT_RIGHT_F1 for f in shown) / len(shown)
        counts["answer.short_answer_precision"] = len(shown)
    unanswerable = [not r.gold.answerable for r in results]
    if any(unanswerable):
        a = abstention_scores([r.abstained for r in results], unanswerable)
        for name in ("precision", "recall", "f1"):
            metrics[f"abstention.{name}"] = getattr(a, name)
            counts[f"abstention.{name}"] = n
    _llm_metrics(results, metrics, counts)
    latencies = [r.latency_ms for r in results]
    for q in (50, 95):
        metrics[f"latency.p{q}_ms"] = percentile(latencies, q)
        counts[f"latency.p{q}_ms"] = n
    return metrics, counts


def _llm_metrics(results: Sequence[QuestionResult], metrics: dict[str, float], counts: dict[str, int]) -> None:
    """Unsupported sentences, fallbacks and generation speed, when the run asked a language model."""
    llm = [r for r in results if r.answer.get("mode", "extractive") != "extractive"]
    if not llm:
        return
    sentences = [s for r in llm for s in r.answer.get("sentences", ())]
    if sentences:
        metrics["answer.unsupported_share"] = sum(not s["supported"] for s in sentences) / len(sentences)
        counts["answer.unsupported_share"] = len(sentences)  # sentences, not questions
    metrics["answer.llm_fallback_rate"] = sum(r.answer["mode"] == "llm-fallback" for r in llm) / len(llm)
    counts["answer.llm_fallback_rate"] = len(llm)
    generations = [r.answer["generation"] for r in llm if r.answer.get("generation")]
    for kind, tokens, seconds in (
        ("generation", "completion_tokens", "generation_seconds"),
        ("prompt", "prompt_tokens", "prompt_seconds"),
    ):
        total = sum(g[seconds] for g in generations)
        if total > 0 and any(g[tokens] for g in generations):
            metrics[f"llm.{kind}_tokens_per_s"] = sum(g[tokens] for g in generations) / total
            counts[f"llm.{kind}_tokens_per_s"] = len(generations)


def recall_curve(results: Sequence[QuestionResult]) -> list[float]:
    """Mean recall@k for k = 1..DEPTH over the questions retrieval applies to (the report's plot)."""
    judged = [r for r in results if "recall@1" in r.scores]
    if not judged:
        return []
    return [sum(recall_at_k(r.retrieved, r.gold.doc_ids, k) for r in judged) / len(judged) for k in range(1, DEPTH + 1)]


def _short_candidates(results: Sequence[QuestionResult]) -> list[tuple[float, bool, bool]]:
    """(confidence, right, shown) of every short-answer candidate the gold data can judge, surest first."""
    rows = [
        (
            float(r.answer["short_answer_confidence"]),
            r.scores["short_candidate_f1"] >= SHORT_RIGHT_F1,
            r.answer["short_answer"] is not None,
        )
        for r in results
        if "short_candidate_f1" in r.scores and r.answer.get("short_answer_confidence") is not None
    ]
    return sorted(rows, key=lambda row: -row[0])


def short_answer_curve(
    results: Sequence[QuestionResult],
) -> tuple[list[tuple[float, float]], tuple[float, float] | None]:
    """The precision/coverage curve of short answers, and the point the run stands at.

    Each distinct confidence is a threshold: coverage is the share of the questions with gold
    answers whose candidate reaches it, precision the share of those candidates that are right
    (F1 >= SHORT_RIGHT_F1). The point is the short answers actually shown. Empty (None) for runs
    written before candidates were recorded.
    """
    judged = sum(1 for r in results if r.gold.answers)
    rows = _short_candidates(results)
    if not judged or not rows:
        return [], None
    points: list[tuple[float, float]] = []
    right = 0
    for i, (confidence, ok, _) in enumerate(rows):
        right += ok
        if i + 1 == len(rows) or rows[i + 1][0] != confidence:
            points.append(((i + 1) / judged, right / (i + 1)))
    shown = [ok for _, ok, was_shown in rows if was_shown]
    point = (len(shown) / judged, sum(shown) / len(shown)) if shown else None
    return points, point


def short_answer_reliability(results: Sequence[QuestionResult], bins: int = 5) -> list[tuple[float, float]]:
    """(mean confidence, share right) of the short-answer candidates in ``bins`` groups of equal size."""
    rows = _short_candidates(results)[::-1]
    groups = [rows[len(rows) * b // bins : len(rows) * (b + 1) // bins] for b in range(bins)]
    return [(sum(c for c, _, _ in g) / len(g), sum(ok for _, ok, _ in g) / len(g)) for g in groups if g]
