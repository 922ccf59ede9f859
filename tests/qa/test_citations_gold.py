"""Every answer's citations verify, over whole gold sets: every question of the committed SQuAD v1.1
and v2.0 dev cuts (tests/data; unanswerable ones included) and every turn of the conversational gold
set, each citation and short answer checked against the document as stored on disk, not as held by
the answerer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.questions import load_squad_questions
from index.build import build_index
from index.embedding import HashingEmbedder
from index.formats.corpora import iter_squad_documents
from index.layout import document_from_json
from index.loaders import iter_sources
from index.store import IndexDir
from qa.answer.chat import ChatSession
from qa.answer.extractive import ExtractiveAnswerer
from qa.core.answers import Answer
from qa.search.retrieval import Retriever

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # whole gold sets (the fake embedder keeps them to under a minute)


def on_disk(root: Path) -> dict[str, str]:
    generation = IndexDir(root).current()
    with open(generation / "documents.jsonl", encoding="utf-8") as lines:
        return {d.doc_id: d.text for d in (document_from_json(json.loads(line)) for line in lines)}


def check(answer: Answer, texts: dict[str, str]) -> int:
    """Number of spans checked; fails on the first that does not reproduce the stored text."""
    for c in answer.citations:
        assert texts[c.doc_id][c.start : c.end] == c.text, (answer.question, c)
    if answer.short_answer is not None:
        s = answer.short_answer
        assert texts[s.doc_id][s.start : s.end] == s.text, (answer.question, s)
        assert any(c.doc_id == s.doc_id and c.start <= s.start < s.end <= c.end for c in answer.citations)
    return len(answer.citations) + (answer.short_answer is not None)


@pytest.mark.parametrize(("gold", "count"), [("dev-v1.1.json", 1198), ("dev-v2.0.json", 463)])
def test_every_citation_of_every_squad_question_verifies(tmp_path: Path, data: Path, gold: str, count: int) -> None:
    squad = data / "squad" / gold
    embedder = HashingEmbedder(dim=256)
    build_index(iter_squad_documents(squad), tmp_path / "idx", embedder)
    answerer = ExtractiveAnswerer(Retriever(IndexDir(tmp_path / "idx").load(embedder), embedder), embedder)
    texts = on_disk(tmp_path / "idx")
    questions = load_squad_questions(squad)
    assert len(questions) == count  # every question of the cut (tests/data/README.md)
    spans = sum(check(answerer.answer(q.question), texts) for q in questions)
    assert spans >= len(questions) // 2  # most questions are answered, so this checked real spans


def test_every_citation_of_the_conversational_gold_verifies(tmp_path: Path, data: Path) -> None:
    embedder = HashingEmbedder(dim=256)
    sources = [data / "squad" / "dev-v1.1.json", data / "seeds"]
    build_index(iter_sources(sources), tmp_path / "idx", embedder)
    answerer = ExtractiveAnswerer(Retriever(IndexDir(tmp_path / "idx").load(embedder), embedder), embedder)
    texts = on_disk(tmp_path / "idx")
    conversations: dict[str, list[dict]] = {}
    for line in (ROOT / "eval" / "goldsets" / "chat.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            conversations.setdefault(row["conversation_id"], []).append(row)
    turns = 0
    for rows in conversations.values():
        session = ChatSession(answerer)
        for row in sorted(rows, key=lambda r: r["turn"]):
            check(session.ask(row["question"]), texts)
            turns += 1
    assert turns > 100
