"""The real model: an eval run is deterministic and every citation re-checks against the stored text."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.goldset import load_gold
from eval.runner import ask_all, build_gold_index
from qa.engine import Engine


@pytest.mark.slow
def test_minilm_run_is_deterministic_with_exact_citations(data: Path, minilm, tmp_path: Path) -> None:
    gold = load_gold(data / "squad" / "dev-v2.0.json").select_articles(["1973_oil_crisis"], 12)
    build_gold_index(gold, tmp_path, minilm)
    first = ask_all(gold, Engine(tmp_path, minilm))
    second = ask_all(gold, Engine(tmp_path, minilm))
    assert len(first) == 12
    assert [(r.scores, r.passed, r.answer, r.retrieved) for r in first] == [
        (r.scores, r.passed, r.answer, r.retrieved) for r in second
    ]
    assert all(r.passed["citations"] for r in first)
    # Retrieval over one article's paragraphs: the gold paragraph is in the top 10 for most questions.
    judged = [r for r in first if "recall@10" in r.scores]
    assert judged and sum(r.scores["recall@10"] for r in judged) / len(judged) >= 0.8
