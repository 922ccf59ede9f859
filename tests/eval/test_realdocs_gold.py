"""Real documents (eval/corpora/realdocs: four PDF manuals, a manual and two FAQs in HTML, as
Debian ships them) answer their gold questions (eval/goldsets/realdocs.jsonl), and the near-domain
questions they cannot answer are listed apart (eval/goldsets/realdocs-abstain.jsonl).

The questions are phrased as a user of those programs would ask them; each gold answer is a short
phrase the first cited sentence must contain, taken from the body text (never from a table of
contents, a running header or an index). The slow test asks them all with the real model through
the code path of ``qa eval`` and holds the evidence accuracy above the floor measured when this
set's readers and answerer landed: 0.532 (42 of 79) on 2026-12-01, from 0.481 with the pypdf
reader and the answerer before heading/pair spans (docs/eval.md "Real documents"). Issue 15's
target is 0.85; the floor is a regression guard, not that target, and leaves room for two flips.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gold_runs import ask_gold

from index.loaders import iter_sources
from qa.core.types import Document

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "eval" / "corpora" / "realdocs"
GOLD = REPO / "eval" / "goldsets" / "realdocs.jsonl"
ABSTAIN = REPO / "eval" / "goldsets" / "realdocs-abstain.jsonl"
EVIDENCE_FLOOR = 0.50  # measured 0.532; issue 15's target (0.85) is not reached yet
DOCUMENTS = {
    "flex.pdf",
    "gmpl.pdf",
    "fhs-3.0.pdf",
    "developers-reference.pdf",
    "nano.html",
    "nano-faq.html",
    "gitfaq.html",
}


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    """Every document of the corpus as the index reads it (no model: a few seconds)."""
    loaded = list(iter_sources([CORPUS]))
    documents = [item for item in loaded if isinstance(item, Document)]
    assert len(documents) == len(loaded), [item for item in loaded if not isinstance(item, Document)]
    return {doc.doc_id: doc.text for doc in documents}


def test_realdocs_gold_sets_have_enough_distinct_questions() -> None:
    answerable, absent = _lines(GOLD), _lines(ABSTAIN)
    assert len(answerable) >= 60 and len(absent) >= 15
    ids = [q["id"] for q in answerable + absent]
    assert len(set(ids)) == len(ids)
    assert all(q["answerable"] is True and q["answers"] and q["doc_ids"] for q in answerable)
    assert all(q["answerable"] is False and not q.get("answers") for q in absent)
    # spread across all documents: each document is the source of at least six questions
    for doc_id in DOCUMENTS:
        assert sum(doc_id in q["doc_ids"] for q in answerable) >= 6, doc_id


def test_realdocs_gold_answers_occur_in_their_documents(texts: dict[str, str]) -> None:
    """Cheap, no model: a reader change that loses or garbles a gold answer fails here first."""
    assert set(texts) >= DOCUMENTS
    for q in _lines(GOLD):
        for answer in q["answers"]:
            assert "\n" not in answer, q["id"]
            found = [doc_id for doc_id in q["doc_ids"] if answer in texts[doc_id]]
            assert found, f"{q['id']}: {answer!r} is in none of {q['doc_ids']}"


@pytest.mark.slow
def test_realdocs_answers_their_gold_questions(tmp_path: Path, minilm) -> None:
    results, evidence = ask_gold(CORPUS, GOLD, tmp_path / "idx", minilm)
    assert len(results) >= 60
    failed = [(r.gold.qid, r.answer["answer"]) for r in results if not r.passed["evidence"]]
    assert evidence >= EVIDENCE_FLOOR, failed
