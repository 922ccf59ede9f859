"""The user guide (docs/guide, the demo corpus) answers its own gold questions (eval/goldsets/guide.jsonl).

The questions are phrased as a new user would ask them; each gold answer is a phrase the first
cited sentence must contain. The slow test asks them all with the real model through the code
path of ``qa eval`` and holds the evidence accuracy above the floor measured when the set was
written (75 questions, 0.987 on 2026-12-01: 74 right; the floor leaves room for two flips).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gold_runs import ask_gold

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "guide"
GOLD = REPO / "eval" / "goldsets" / "guide.jsonl"
EVIDENCE_FLOOR = 0.95
ADD_DOCUMENTS = "How do I add new documents to the index?"


def _gold_lines() -> list[dict]:
    return [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_guide_gold_answers_occur_in_their_documents() -> None:
    """Cheap, no model: a guide edit that drops a gold answer or renames a file fails here first."""
    lines = _gold_lines()
    assert len(lines) >= 30
    assert len({q["id"] for q in lines}) == len(lines)
    assert any(q["question"] == ADD_DOCUMENTS and "qa index update" in q["answers"] for q in lines)
    for q in lines:
        assert q["answerable"] is True and q["answers"] and q["doc_ids"], q["id"]
        texts = [(GUIDE / doc_id).read_text(encoding="utf-8") for doc_id in q["doc_ids"]]
        for answer in q["answers"]:
            assert any(answer in text for text in texts), f"{q['id']}: {answer!r} is in none of {q['doc_ids']}"


@pytest.mark.slow
def test_guide_answers_its_gold_questions(tmp_path: Path, minilm) -> None:
    results, evidence = ask_gold(GUIDE, GOLD, tmp_path / "idx", minilm)
    assert len(results) >= 30
    failed = [(r.gold.qid, r.answer["answer"]) for r in results if not r.passed["evidence"]]
    assert evidence >= EVIDENCE_FLOOR, failed

    (add,) = [r for r in results if r.gold.question == ADD_DOCUMENTS]
    assert not add.answer["abstained"]
    assert "qa index update" in add.answer["citations"][0]["quote"]
