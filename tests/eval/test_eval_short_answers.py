"""Short answers in a run: each candidate's F1 (shown or withheld), their precision, and the report's curves."""

from __future__ import annotations

import pytest

from eval.questions import GoldQuestion
from eval.report import render_html, render_markdown
from eval.scoring import score_question, short_answer_curve, short_answer_reliability, summarise
from eval.svg import unit_chart
from qa.core.answers import Answer, Citation, ShortAnswer
from qa.core.types import Document, DocumentTable

DOC = Document("d", "t", "d", "The bridge was designed by Joseph Strauss in 1937.")
HEADER = {"metrics": {}, "counts": {}}


def _answer(phrase: str | None, confidence: float | None, shown: bool) -> Answer:
    citation = Citation.verified(1, DOC, 0, len(DOC.text))
    short = (
        None
        if phrase is None
        else ShortAnswer.verified(DOC, DOC.text.index(phrase), DOC.text.index(phrase) + len(phrase))
    )
    return Answer(
        "Who designed it?",
        "Who designed it?",
        DOC.text,
        short if shown else None,
        False,
        (citation,),
        (),
        1.0,
        short_answer_confidence=confidence,
        withheld_short_answer=None if shown else short,
    )


def _result(qid: str, phrase: str | None, confidence: float | None, shown: bool, gold: str = "Joseph Strauss"):
    question = GoldQuestion(qid, "Who designed it?", (gold,), ("d",))
    return score_question(question, _answer(phrase, confidence, shown), ["d"], DocumentTable([DOC]), 1.0)


def test_a_withheld_candidate_is_scored_but_not_predicted() -> None:
    withheld = _result("q", "Joseph Strauss", 0.3, shown=False)
    assert withheld.scores["f1"] == 0.0  # what the user saw: no short answer
    assert withheld.scores["short_candidate_f1"] == 1.0  # what was found
    assert withheld.answer["short_answer"] is None and withheld.answer["short_answer_confidence"] == 0.3
    assert withheld.passed["citations"]  # the withheld phrase is checked against the document too
    assert "short_candidate_f1" not in _result("n", None, None, shown=False).scores


def test_precision_and_curve_of_short_answers() -> None:
    results = [
        _result("a", "Joseph Strauss", 0.9, shown=True),  # right
        _result("b", "1937", 0.7, shown=True),  # wrong
        _result("c", "Joseph Strauss", 0.4, shown=False),  # right, withheld
        _result("d", "bridge", 0.2, shown=False),  # wrong, withheld
        _result("e", None, None, shown=False),  # no candidate
    ]
    metrics, counts = summarise(results)
    assert metrics["answer.short_answer_precision"] == 0.5 and counts["answer.short_answer_precision"] == 2
    points, point = short_answer_curve(results)
    assert points == [(0.2, 1.0), (0.4, 0.5), (0.6, pytest.approx(2 / 3)), (0.8, 0.5)]
    assert point == (0.4, 0.5)  # the two shown
    assert short_answer_reliability(results, bins=2) == [(pytest.approx(0.3), 0.5), (pytest.approx(0.8), 0.5)]
    html = render_html(HEADER, results)
    assert "Short answers: precision vs coverage" in html and "Short-answer confidence: reliability" in html
    assert "coverage 0.400" in render_markdown(HEADER, results)


def test_runs_without_candidates_draw_no_short_answer_plots() -> None:
    results = [_result("e", None, None, shown=False)]
    assert short_answer_curve(results) == ([], None)
    assert "precision vs coverage" not in render_html(HEADER, results)
    assert "answer.short_answer_precision" not in summarise(results)[0]


def test_unit_chart_draws_lines_marks_and_guides() -> None:
    svg = unit_chart(
        {"a <b>": [(0.1, 0.9), (0.5, 0.7)]}, "t", "x", "y", {"a <b>": (0.5, 0.7)}, level=0.8, diagonal=True
    )
    assert svg.startswith("<svg") and "<polyline" in svg and svg.count("<circle") == 1
    assert "a &lt;b&gt;" in svg and svg.count("stroke-dasharray") == 2
    assert "no data" in unit_chart({"a": []}, "t", "x", "y")
