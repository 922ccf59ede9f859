"""Answer metrics and per-question scoring against hand-computed cases."""

from __future__ import annotations

import dataclasses
import math

import pytest

from eval.metrics import abstention_scores, evidence_contains
from eval.questions import GoldQuestion
from eval.scoring import QuestionResult, prediction, recall_curve, score_question, summarise
from qa.core.answers import NO_ANSWER_TEXT, Answer, Citation, ShortAnswer
from qa.core.types import Document, DocumentTable

TEXT = "Paris is the capital of France. It has 2.1 million people."
D1, D2 = Document("d1", "t", "s", TEXT), Document("d2", "t", "s", "Berlin is in Germany.")
DOCS = DocumentTable([D1, D2])


def _answer(quote_span=(0, 31), short_span=(0, 5), abstained=False, quote=None, score=0.7) -> Answer:
    if abstained:
        return Answer("q", "q", NO_ANSWER_TEXT, None, True, (), (), score)
    start, end = quote_span
    citation = Citation.verified(1, D1, start, end)
    if quote is not None:
        citation = dataclasses.replace(citation, text=quote)  # a quote that is not the source
    short = None if short_span is None else ShortAnswer.verified(D1, *short_span)
    return Answer("q", "q", f"{citation.text} [1]", short, False, (citation,), (), score)


def test_evidence_contains_uses_official_normalisation_and_whole_tokens() -> None:
    assert evidence_contains("The capital is PARIS, France.", ["paris"])
    assert evidence_contains("It happened in the 1990s.", ["The 1990s"])  # article dropped on both sides
    assert not evidence_contains("Parisian cafés", ["Paris"])  # not a whole token
    assert not evidence_contains("anything at all", ["the"])  # normalises to nothing: never matches
    assert not evidence_contains("", ["Paris"])
    assert evidence_contains("U.S.A. troops", ["USA"])


def test_abstention_hand_computed() -> None:
    # 5 questions, 2 unanswerable (u); abstained on q1 (u), q3 (answerable), q4 (answerable).
    # TP = 1; precision = 1/3; recall = 1/2; F1 = 2 * (1/3 * 1/2) / (1/3 + 1/2) = 0.4.
    a = abstention_scores([True, False, True, True, False], [True, True, False, False, False])
    assert (a.precision, a.recall) == pytest.approx((1 / 3, 1 / 2))
    assert a.f1 == pytest.approx(0.4)
    assert (a.abstained, a.unanswerable) == (3, 2)
    never = abstention_scores([False, False], [True, False])
    assert (never.precision, never.recall, never.f1) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        abstention_scores([True], [True, False])


def test_prediction_is_short_answer_or_empty() -> None:
    assert prediction(_answer()) == "Paris"
    assert prediction(_answer(short_span=None)) == ""
    assert prediction(_answer(abstained=True)) == ""


def test_score_question_answerable() -> None:
    gold = GoldQuestion("q1", "capital?", ("Paris", "the city of Paris"), ("d1",))
    # Gold d1 at rank 2: R@1 0, R@5 1, MRR 1/2, nDCG@10 = (1/log2 3) / 1.
    r = score_question(gold, _answer(), ["d2", "d1"], DOCS, 12.5)
    assert r.scores["recall@1"] == 0.0 and r.scores["recall@5"] == 1.0
    assert r.scores["mrr@10"] == 0.5
    assert r.scores["ndcg@10"] == pytest.approx(1 / math.log2(3))
    assert r.scores["exact"] == 1.0 and r.scores["f1"] == 1.0
    assert r.passed == {
        "hit@1": False,
        "hit@5": True,
        "hit@10": True,
        "exact": True,
        "evidence": True,
        "citations": True,
        "abstention": True,
    }
    assert "hits" not in r.answer and r.latency_ms == 12.5


def test_score_question_catches_a_quote_that_is_not_the_source() -> None:
    gold = GoldQuestion("q1", "capital?", ("Paris",), ("d1",))
    wrong = _answer(quote="Paris is the capital of Spain.")
    r = score_question(gold, wrong, ["d1"], DOCS, 1.0)
    assert r.passed["citations"] is False and r.scores["citations"] == 0.0
    # A citation of a document the index does not hold is not exact either.
    r = score_question(gold, _answer(), ["d1"], DocumentTable([D2]), 1.0)
    assert r.passed["citations"] is False


def test_score_question_partial_f1_and_wrong_evidence() -> None:
    gold = GoldQuestion("q2", "population?", ("2.1 million",), ("d1",))
    # short answer "Paris is" vs gold "2.1 million": no overlap; evidence is sentence 1: no gold.
    r = score_question(gold, _answer(short_span=(0, 8)), ["d1"], DOCS, 1.0)
    assert r.scores["exact"] == 0.0 and r.scores["f1"] == 0.0 and r.passed["evidence"] is False
    # short answer "2.1 million people" vs "21 million": P = 2/3, R = 2/2 -> F1 0.8.
    r = score_question(gold, _answer(quote_span=(32, 58), short_span=(39, 57)), ["d1"], DOCS, 1.0)
    assert r.scores["f1"] == pytest.approx(0.8) and r.passed["evidence"] is True


def test_score_question_unanswerable_and_retrieval_only() -> None:
    unanswerable = GoldQuestion("q3", "?", (), ("d1",), answerable=False)
    r = score_question(unanswerable, _answer(abstained=True, score=float("-inf")), ["d1"], DOCS, 1.0)
    # No retrieval or evidence scores; "" is the right answer; abstaining is right.
    assert set(r.scores) == {"exact", "f1", "citations"}
    assert r.scores["exact"] == 1.0 and r.passed["abstention"] is True
    assert r.answer["evidence_score"] is None  # -inf is not JSON
    answered = score_question(unanswerable, _answer(), ["d1"], DOCS, 1.0)
    assert answered.scores["exact"] == 0.0 and answered.passed["abstention"] is False
    beir = GoldQuestion("q4", "claim", (), ("d1", "d3"), relevance=(("d1", 2), ("d3", 1)))
    r = score_question(beir, _answer(), ["d1", "d2"], DOCS, 1.0)
    assert r.scores["recall@1"] == 0.5  # one of two relevant documents
    assert "exact" not in r.scores and "evidence" not in r.scores


def test_summarise_hand_computed() -> None:
    golds = [
        GoldQuestion("a", "capital?", ("Paris",), ("d1",)),
        GoldQuestion("b", "population?", ("2.1 million",), ("d1",)),
        GoldQuestion("c", "?", (), ("d1",), answerable=False),
        GoldQuestion("d", "?", (), ("d2",), answerable=False),
    ]
    results = [
        score_question(golds[0], _answer(), ["d1"], DOCS, 10.0),  # right everything
        score_question(golds[1], _answer(), ["d2", "d1"], DOCS, 20.0),  # wrong answer, gold at rank 2
        score_question(golds[2], _answer(abstained=True), ["d1"], DOCS, 30.0),  # right abstention
        score_question(golds[3], _answer(), ["d1"], DOCS, 40.0),  # should have abstained
    ]
    metrics, counts = summarise(results)
    assert metrics["retrieval.recall@1"] == 0.5 and counts["retrieval.recall@1"] == 2
    assert metrics["retrieval.mrr@10"] == pytest.approx(0.75)
    assert metrics["answer.exact"] == 0.5 and counts["answer.exact"] == 4  # a and c
    assert metrics["answer.evidence_accuracy"] == 0.5 and counts["answer.evidence_accuracy"] == 2
    assert metrics["answer.citation_exactness"] == 1.0
    assert metrics["answer.abstained_rate"] == 0.25
    # Abstained once (c, unanswerable): precision 1/1, recall 1/2, F1 2/3.
    assert metrics["abstention.precision"] == 1.0 and metrics["abstention.recall"] == 0.5
    assert metrics["abstention.f1"] == pytest.approx(2 / 3)
    # numpy-style linear percentiles of 10, 20, 30, 40: p50 25, p95 38.5.
    assert metrics["latency.p50_ms"] == pytest.approx(25.0) and metrics["latency.p95_ms"] == pytest.approx(38.5)
    assert recall_curve(results)[:2] == [0.5, 1.0]


def test_summarise_leaves_out_abstention_without_unanswerable_questions() -> None:
    gold = GoldQuestion("a", "capital?", ("Paris",), ("d1",))
    metrics, _ = summarise([score_question(gold, _answer(), ["d1"], DOCS, 1.0)])
    assert not any(name.startswith("abstention.") for name in metrics)


def test_question_result_round_trips_through_json() -> None:
    gold = GoldQuestion("a", "capital?", ("Paris",), ("d1",), relevance=(("d1", 2),), conversation_id="c", turn=2)
    r = score_question(gold, _answer(), ["d1", "d2"], DOCS, 3.25)
    again = QuestionResult.from_json(r.to_json())
    assert again == r
