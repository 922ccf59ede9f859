"""The project's gold JSONL, format detection, subsets, and the order questions are asked in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.goldset import load_gold
from eval.questions import load_jsonl_questions
from eval.runner import evaluation_order
from qa.core.errors import GoldFormatError


def _jsonl(path: Path, records: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


def test_jsonl_fields_and_defaults(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "g.jsonl",
        [
            {"id": "a", "question": "Who?", "answers": ["Ann"], "doc_ids": ["x.md"]},
            "",
            {"id": 7, "question": "Not here?", "answerable": False},
            {"id": "c", "question": "And then?", "answers": ["B"], "conversation_id": "talk", "turn": 2},
        ],
    )
    a, b, c = load_jsonl_questions(path)
    assert (a.qid, a.answers, a.doc_ids, a.answerable, a.conversation_id) == ("a", ("Ann",), ("x.md",), True, None)
    assert (b.qid, b.answers, b.answerable) == ("7", (), False)  # ids become strings
    assert (c.conversation_id, c.turn) == ("talk", 2)


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        ("not json", r"g\.jsonl:2: not JSON"),
        ('["a list"]', r"g\.jsonl:2: expected a JSON object"),
        ('{"id": "b", "question": "?", "answer": ["typo"]}', r"g\.jsonl:2: unknown keys \['answer'\]"),
        ('{"id": "b", "question": ""}', r"g\.jsonl:2: 'question'"),
        ('{"question": "?"}', r"g\.jsonl:2: 'id'"),
        ('{"id": "b", "question": "?", "answers": "Ann"}', r"g\.jsonl:2: 'answers' must be a list"),
        ('{"id": "b", "question": "?", "answers": ["x"], "answerable": false}', r"g\.jsonl:2: an unanswerable"),
        ('{"id": "b", "question": "?", "answerable": "no"}', r"g\.jsonl:2: 'answerable'"),
        ('{"id": "b", "question": "?", "turn": "1"}', r"g\.jsonl:2: 'turn'"),
        ('{"id": "a", "question": "again?"}', r"g\.jsonl:2: duplicate id 'a'"),
    ],
)
def test_jsonl_errors_name_file_and_line(tmp_path: Path, line: str, pattern: str) -> None:
    path = _jsonl(tmp_path / "g.jsonl", [{"id": "a", "question": "Who?"}, line])
    with pytest.raises(GoldFormatError, match=pattern):
        load_jsonl_questions(path)


def test_jsonl_missing_or_empty(tmp_path: Path) -> None:
    with pytest.raises(GoldFormatError, match=r"nope\.jsonl: file not found"):
        load_jsonl_questions(tmp_path / "nope.jsonl")
    with pytest.raises(GoldFormatError, match="no questions"):
        load_jsonl_questions(_jsonl(tmp_path / "e.jsonl", [""]))


def _squad(path: Path) -> Path:
    def qa(qid: str, impossible: bool = False) -> dict:
        answers = [] if impossible else [{"text": "x", "answer_start": 0}]
        return {"id": qid, "question": f"q{qid}?", "answers": answers, "is_impossible": impossible}

    data = {
        "version": "v2.0",
        "data": [
            {"title": "A", "paragraphs": [{"context": "x one", "qas": [qa("1"), qa("2", True)]}]},
            {
                "title": "B_b",
                "paragraphs": [{"context": "x two", "qas": [qa("3")]}, {"context": "x", "qas": [qa("4")]}],
            },
            {"title": "C", "paragraphs": [{"context": "x three", "qas": [qa("5")]}]},
        ],
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_load_gold_recognises_each_format(tmp_path: Path) -> None:
    squad = load_gold(_squad(tmp_path / "s.json"))
    assert (squad.kind, squad.name, len(squad.questions), squad.corpus) == ("squad", "s", 5, tmp_path / "s.json")
    assert squad.has_unanswerable
    assert [d.doc_id for d in squad.documents()] == ["A#0", "B_b#0", "B_b#1", "C#0"]
    jsonl = load_gold(_jsonl(tmp_path / "g.jsonl", [{"id": "a", "question": "Who?"}]))
    assert (jsonl.kind, jsonl.corpus) == ("jsonl", None)
    with pytest.raises(GoldFormatError, match="no corpus; give --index"):
        next(jsonl.documents())
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "queries.jsonl").write_text('{"_id": "q1", "text": "claim"}\n', encoding="utf-8")
    (beir / "qrels" / "test.tsv").write_text("q\tc\ts\nq1\tdoc1\t1\n", encoding="utf-8")
    assert load_gold(beir, split="test").corpus is None  # no corpus.jsonl beside the queries
    (beir / "corpus.jsonl").write_text('{"_id": "doc1", "title": "T", "text": "body"}\n', encoding="utf-8")
    gold = load_gold(beir, split="test")
    assert (gold.kind, [d.doc_id for d in gold.documents()]) == ("beir", ["doc1"])
    with pytest.raises(GoldFormatError, match=r"x\.csv: file not found"):
        load_gold(tmp_path / "x.csv")
    (tmp_path / "y.csv").write_text("a,b\n")
    with pytest.raises(GoldFormatError, match=r"y\.csv: not a gold set"):
        load_gold(tmp_path / "y.csv")


def test_select_articles_keeps_their_questions_and_paragraphs(tmp_path: Path) -> None:
    gold = load_gold(_squad(tmp_path / "s.json"))
    chosen = gold.select_articles(["C", "A"])
    assert [q.qid for q in chosen.questions] == ["1", "2", "5"]  # file order
    assert [d.doc_id for d in chosen.documents()] == ["A#0", "C#0"]
    assert [q.qid for q in gold.select_articles(["A", "B_b"], per_article=1).questions] == ["1", "3"]
    assert [q.qid for q in chosen.first(2).questions] == ["1", "2"]
    assert len(list(chosen.first(2).documents())) == 2  # a limit keeps the corpus whole
    with pytest.raises(GoldFormatError, match=r"no article titled \['Z'\]"):
        gold.select_articles(["Z"])
    with pytest.raises(GoldFormatError, match="at least 1"):
        gold.first(0)
    jsonl = load_gold(_jsonl(tmp_path / "g.jsonl", [{"id": "a", "question": "Who?"}]))
    with pytest.raises(GoldFormatError, match="needs a SQuAD file"):
        jsonl.select_articles(["A"])


def test_evaluation_order_groups_conversations_by_turn(tmp_path: Path) -> None:
    questions = load_jsonl_questions(
        _jsonl(
            tmp_path / "g.jsonl",
            [
                {"id": "t2", "question": "When was he born?", "conversation_id": "x", "turn": 2},
                {"id": "solo", "question": "Alone?"},
                {"id": "t1", "question": "Who wrote Hamlet?", "conversation_id": "x", "turn": 1},
                {"id": "y1", "question": "Other talk?", "conversation_id": "y", "turn": 1},
            ],
        )
    )
    order = [[q.qid for q in group] for group in evaluation_order(questions)]
    assert order == [["t1", "t2"], ["solo"], ["y1"]]
