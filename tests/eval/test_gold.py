"""Gold readers on the committed SQuAD and SciFact cuts (tests/data), and their errors on bad files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from eval.questions import GoldQuestion, load_beir_queries, load_squad_questions
from qa.core.errors import QAError

DATA = Path(__file__).resolve().parents[1] / "data"


# --- the committed cuts (counts from tests/data/README.md) -----------------------------------


def test_squad_v11() -> None:
    questions = load_squad_questions(DATA / "squad" / "dev-v1.1.json")
    assert len(questions) == 1198
    assert all(q.answerable and q.answers for q in questions)
    assert all(len(q.doc_ids) == 1 and q.relevance == () for q in questions)
    assert len({q.qid for q in questions}) == 1198
    # README: 233 paragraphs in 12 articles.
    doc_ids = {q.doc_ids[0] for q in questions}
    assert len(doc_ids) == 233
    assert len({d.rsplit("#", 1)[0] for d in doc_ids}) == 12
    assert "Normans#0" in doc_ids
    assert "Warsaw#0" in doc_ids
    first = questions[0]
    assert first.doc_ids == ("Warsaw#0",)
    assert first.question == "What was Maria Curie the first female recipient of?"
    assert first.answers == ("Nobel Prize", "Nobel Prize", "Nobel Prize")  # repeats kept


def test_squad_v20() -> None:
    questions = load_squad_questions(DATA / "squad" / "dev-v2.0.json")
    assert len(questions) == 463
    unanswerable = [q for q in questions if not q.answerable]
    assert len(unanswerable) == 261
    assert all(q.answers == () for q in unanswerable)
    assert all(q.answers for q in questions if q.answerable)
    # Unanswerable questions still belong to a paragraph (useful for retrieval-side checks).
    assert all(q.doc_ids and "#" in q.doc_ids[0] for q in unanswerable)
    # README: the whole articles Normans (39 paragraphs) and 1973_oil_crisis (24).
    doc_ids = {q.doc_ids[0] for q in questions}
    assert len(doc_ids) == 63
    assert {d.rsplit("#", 1)[0] for d in doc_ids} == {"Normans", "1973_oil_crisis"}


def test_scifact_train() -> None:
    queries = load_beir_queries(DATA / "scifact")
    assert len(queries) == 150
    assert len({q.qid for q in queries}) == 150
    # README: 167 relevance judgements, all with score 1.
    assert sum(len(q.relevance) for q in queries) == 167
    assert all(q.doc_ids and q.answerable and q.answers == () for q in queries)
    assert all(tuple(d for d, s in q.relevance if s > 0) == q.doc_ids for q in queries)
    by_id = {q.qid: q for q in queries}
    assert by_id["2"].question == "1 in 5 million in UK have abnormal PrP positivity."
    assert by_id["2"].relevance == (("13734012", 1),)


def test_gold_question_is_frozen() -> None:
    q = GoldQuestion(qid="1", question="?", answers=(), doc_ids=("d",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.qid = "2"  # type: ignore[misc]


# --- small synthetic files ------------------------------------------------------------------


def _beir(folder: Path, queries: list[dict], qrels: str, split: str = "train") -> Path:
    (folder / "qrels").mkdir(parents=True)
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries), encoding="utf-8")
    (folder / "qrels" / f"{split}.tsv").write_text(qrels, encoding="utf-8")
    return folder


def test_beir_graded_and_zero_judgements(tmp_path: Path) -> None:
    folder = _beir(
        tmp_path / "b",
        [{"_id": "q1", "text": "one"}, {"_id": "q2", "text": "two"}, {"_id": "q3", "text": "unjudged"}],
        "query-id\tcorpus-id\tscore\nq2\td1\t2\nq2\td2\t0\nq2\td3\t1\nq1\td9\t1\n",
        split="test",
    )
    queries = load_beir_queries(folder, split="test")
    # Order follows queries.jsonl; q3 has no judgements and is left out.
    assert [q.qid for q in queries] == ["q1", "q2"]
    q2 = queries[1]
    assert q2.doc_ids == ("d1", "d3")  # score > 0 only
    assert q2.relevance == (("d1", 2), ("d2", 0), ("d3", 1))  # every judged pair


def test_beir_query_with_only_zero_judgements_is_not_answerable(tmp_path: Path) -> None:
    folder = _beir(tmp_path / "b", [{"_id": "q1", "text": "one"}], "query-id\tcorpus-id\tscore\nq1\td1\t0\n")
    (q,) = load_beir_queries(folder)
    assert q.doc_ids == () and not q.answerable


def test_beir_missing_files_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(QAError, match=r"train\.tsv"):
        load_beir_queries(tmp_path)
    folder = _beir(tmp_path / "b", [{"_id": "q1", "text": "one"}], "h\th\th\nq1\td1\t1\n")
    with pytest.raises(QAError, match=r"dev\.tsv"):
        load_beir_queries(folder, split="dev")


@pytest.mark.parametrize(
    ("qrels", "queries_text", "pattern"),
    [
        ("h\th\th\nq1\td1\tyes\n", '{"_id": "q1", "text": "one"}\n', r"train\.tsv:2"),
        ("h\th\th\nq1\td1\n", '{"_id": "q1", "text": "one"}\n', r"train\.tsv:2"),
        ("", '{"_id": "q1", "text": "one"}\n', r"train\.tsv"),
        ("h\th\th\nq1\td1\t1\n", '{"_id": "q1"}\n', r"queries\.jsonl:1"),
        ("h\th\th\nq1\td1\t1\n", "not json\n", r"queries\.jsonl:1"),
        ("h\th\th\nq7\td1\t1\n", '{"_id": "q1", "text": "one"}\n', r"queries\.jsonl.*q7"),
    ],
)
def test_beir_malformed_files(tmp_path: Path, qrels: str, queries_text: str, pattern: str) -> None:
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "train.tsv").write_text(qrels, encoding="utf-8")
    (tmp_path / "queries.jsonl").write_text(queries_text, encoding="utf-8")
    with pytest.raises(QAError, match=pattern):
        load_beir_queries(tmp_path)


def test_squad_missing_and_malformed(tmp_path: Path) -> None:
    with pytest.raises(QAError, match=r"nope\.json"):
        load_squad_questions(tmp_path / "nope.json")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{", encoding="utf-8")
    with pytest.raises(QAError, match=r"bad\.json"):
        load_squad_questions(bad_json)
    wrong_shape = tmp_path / "shape.json"
    wrong_shape.write_text(json.dumps({"data": [{"paragraphs": []}]}), encoding="utf-8")
    with pytest.raises(QAError, match=r"shape\.json.*title"):
        load_squad_questions(wrong_shape)
    not_a_dict = tmp_path / "list.json"
    not_a_dict.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(QAError, match=r"list\.json"):
        load_squad_questions(not_a_dict)


def test_squad_paragraph_index_is_zero_based_per_article(tmp_path: Path) -> None:
    def qa(qid: str) -> dict:
        return {"id": qid, "question": "?", "answers": [{"text": "x", "answer_start": 0}]}

    data = {
        "data": [
            {"title": "A", "paragraphs": [{"context": "x", "qas": [qa("1")]}, {"context": "x", "qas": [qa("2")]}]},
            {"title": "B", "paragraphs": [{"context": "x", "qas": [qa("3")]}]},
        ]
    }
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert [q.doc_ids for q in load_squad_questions(path)] == [("A#0",), ("A#1",), ("B#0",)]
