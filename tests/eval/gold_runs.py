"""A gold set asked over its corpus as `qa index build` + `qa eval` would, with every quote checked."""

from __future__ import annotations

from pathlib import Path

from eval.goldset import load_gold
from eval.runner import ask_all
from eval.scoring import QuestionResult, summarise
from index.build import build_index
from index.chunking import ChunkerSettings
from index.embedding import Embedder
from index.loaders import iter_sources
from index.store import IndexDir
from qa.engine import Engine


def ask_gold(corpus: Path, gold_path: Path, root: Path, embedder: Embedder) -> tuple[list[QuestionResult], float]:
    """The results of every gold question and the evidence accuracy; every citation is asserted exact."""
    build_index(iter_sources([corpus]), root, embedder, ChunkerSettings())  # `qa index build CORPUS`
    gold = load_gold(gold_path)
    results = ask_all(gold, Engine(root, embedder))  # what `qa eval GOLD --index root` asks and scores
    assert len(results) == len(gold.questions)
    index = IndexDir(root).load()
    for r in results:
        assert r.passed["citations"], r.gold.qid
        for c in r.answer["citations"]:
            assert index.document(c["doc_id"]).text[c["start"] : c["end"]] == c["quote"], r.gold.qid
    metrics, counts = summarise(results)
    assert counts["answer.evidence_accuracy"] == len(results)
    return results, metrics["answer.evidence_accuracy"]
