"""Gate directions and the dependency-free SVG charts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from eval.questions import GoldQuestion
from eval.run_folder import Comparison, Delta, Run, compare, regressions
from eval.scoring import QuestionResult
from eval.svg import histogram, line_chart
from qa.core.errors import EvalRunError


def test_worse_by_follows_each_metric_direction() -> None:
    assert Delta("answer.f1", 0.50, 0.45).worse_by == pytest.approx(0.05)  # higher is better
    assert Delta("answer.f1", 0.50, 0.60).worse_by == pytest.approx(-0.10)
    assert Delta("latency.p50_ms", 100.0, 150.0).worse_by == pytest.approx(0.5)  # a ratio, lower is better
    assert Delta("answer.abstained_rate", 0.1, 0.9).worse_by == 0.0  # information only, never gated


def test_regressions_apply_tolerances() -> None:
    deltas = (
        Delta("answer.f1", 0.50, 0.47),
        Delta("retrieval.recall@1", 0.80, 0.79),
        Delta("latency.p95_ms", 100.0, 180.0),
        Delta("answer.abstained_rate", 0.0, 1.0),
    )
    comparison = Comparison(deltas, (), (), ())
    assert [d.metric for d, _ in regressions(comparison, 0.02)] == ["answer.f1"]
    assert [d.metric for d, _ in regressions(comparison, 0.03)] == []  # a drop of exactly the tolerance passes
    assert [d.metric for d, _ in regressions(comparison, 0.005, 0.5)] == [
        "answer.f1",
        "retrieval.recall@1",
        "latency.p95_ms",
    ]
    with pytest.raises(EvalRunError, match="different questions"):
        regressions(Comparison(deltas, (), ("q9",), ()), 0.1)
    with pytest.raises(EvalRunError, match="negative"):
        regressions(comparison, -0.1)


def _run(passes: dict[str, bool], metrics: dict[str, float]) -> Run:
    results = tuple(
        QuestionResult(GoldQuestion(qid, f"{qid}?", ("x",), ("d",)), {}, ("d",), 1.0, {}, {"exact": ok})
        for qid, ok in passes.items()
    )
    return Run(Path("."), {"metrics": metrics}, results)


def test_compare_lists_flips_and_unmatched_questions() -> None:
    before = _run({"a": True, "b": False, "c": True}, {"answer.exact": 0.66, "only.before": 1.0})
    after = _run({"a": False, "b": True, "d": True}, {"answer.exact": 0.5})
    comparison = compare(before, after)
    assert [(d.metric, d.change) for d in comparison.deltas] == [("answer.exact", pytest.approx(-0.16))]
    assert [(f.qid, f.before, f.after) for f in comparison.flips] == [("a", True, False), ("b", False, True)]
    assert (comparison.only_before, comparison.only_after) == (("c",), ("d",))


def test_svg_charts_are_standalone_svg() -> None:
    curve = line_chart([0.5, 0.75, 1.0], "Recall@k", "k", "recall")
    assert curve.startswith("<svg") and curve.count("<circle") == 3
    hist = histogram({"a": [1.0, 2.0, 2.0, float("-inf")], "b <&>": [3.0]}, "t", "x", bins=4)
    assert "b &lt;&amp;&gt; (n=1)" in hist and "a (n=3)" in hist  # escaped labels; -inf not counted
    bars = [int(n) for n in re.findall(r"<title>a: (\d+)</title>", hist)]
    assert sorted(bars) == [1, 2]  # 1.0 in one bin, both 2.0 in another
    assert "no data" in histogram({"a": []}, "t", "x") and "no data" in line_chart([], "t", "x", "y")
