"""``qa ask`` and ``qa chat``: the answer JSON contract, exact spans, question files and a conversation."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from index.store import IndexDir
from qa.answer.short.confidence import SHOW_ABOVE, in_words
from qa.cli import main

ANSWER_KEYS = {
    "question",
    "rewritten_query",
    "answer",
    "short_answer",
    "short_answer_span",
    "short_answer_confidence",
    "abstained",
    "evidence_score",
    "answer_confidence",
    "low_confidence",
    "citations",
    "hits",
    "mode",
}
CITATION_KEYS = {"n", "doc_id", "title", "source", "page", "start", "end", "boxes", "quote"}


@pytest.fixture
def index(tmp_path: Path, capsys: pytest.CaptureFixture) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "chopin.txt").write_text(
        "Frédéric Chopin was a Polish composer and pianist. He was born in Żelazowa Wola in 1810. "
        "He moved to Paris in 1831 and died there in 1849.\n"
    )
    (docs / "oxygen.txt").write_text(
        "Oxygen is a chemical element with atomic number 8. It was discovered by Carl Wilhelm Scheele in 1771.\n"
    )
    root = tmp_path / "idx"
    assert main(["index", "build", str(docs), "--index", str(root), "--embedder", "hashing:256"]) == 0
    capsys.readouterr()
    return root


def test_ask_json_is_the_contract_and_every_span_is_exact(index: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["ask", "Who discovered oxygen and when?", "--index", str(index), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert set(answer) == ANSWER_KEYS
    assert not answer["abstained"] and answer["citations"]
    stored = IndexDir(index).load()
    for citation in answer["citations"]:
        assert set(citation) == CITATION_KEYS
        assert stored.document(citation["doc_id"]).text[citation["start"] : citation["end"]] == citation["quote"]
    # "It ..." continues the sentence before it, so both are quoted as one span (qa/answer/spans.py).
    assert answer["citations"][0]["quote"] == (
        "Oxygen is a chemical element with atomic number 8. It was discovered by Carl Wilhelm Scheele in 1771."
    )
    assert answer["short_answer"] in answer["citations"][0]["quote"]
    assert 0.0 < answer["short_answer_confidence"] < 1.0  # given, whether the short answer is shown or not
    assert answer["answer"].startswith(answer["citations"][0]["quote"])


def test_ask_text_and_questions_file(index: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["ask", "When did Chopin move to Paris?", "--index", str(index)]) == 0
    out = capsys.readouterr().out
    assert "(chopin.txt, chars 89-138)" in out
    assert main(["ask", "When did Chopin move to Paris?", "--index", str(index), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    p = data["short_answer_confidence"]
    if data["short_answer"] is not None:  # shown with how sure it is, in words and percent
        assert f"Short answer ({in_words(p)}, {p:.0%}): {data['short_answer']}" in out
    else:  # withheld: the quote stands alone
        assert p < SHOW_ABOVE and "Short answer" not in out
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"id": "a", "question": "When did Chopin die?"}\n{"id": "b", "question": "What is oxygen?"}\n'
    )
    assert main(["ask", "--questions", str(questions), "--index", str(index)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["id"] for line in lines] == ["a", "b"]
    assert all(set(line) >= ANSWER_KEYS for line in lines)


def test_ask_needs_exactly_one_question_source(index: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["ask", "--index", str(index)]) == 1
    assert "give either a QUESTION" in capsys.readouterr().err


def test_chat_rewrites_a_follow_up_and_shows_the_query(
    index: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Where was Frédéric Chopin born?\nWhen did he die?\n/quit\n"))
    assert main(["chat", "--index", str(index)]) == 0
    out = capsys.readouterr().out
    assert "(searched for: When did he die?" in out and "Chopin" in out.split("(searched for:")[1]
    assert "died there in 1849" in out


@pytest.mark.slow
def test_ask_json_abstains_on_an_out_of_corpus_question(
    tmp_path: Path, data: Path, minilm, capsys: pytest.CaptureFixture
) -> None:
    from index.build import build_index
    from index.loaders import iter_sources
    from qa.core.answers import NO_ANSWER_TEXT

    build_index(iter_sources([data / "seeds" / "000_e0905da38116da84.txt"]), tmp_path / "idx", minilm)
    question = "What is the boiling point of mercury?"
    assert main(["ask", question, "--index", str(tmp_path / "idx"), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["abstained"] is True and answer["citations"] == [] and answer["short_answer"] is None
    assert answer["answer"] == NO_ANSWER_TEXT and "documents do not contain" in answer["answer"]
    assert answer["hits"] and all(hit["doc_id"] == "000_e0905da38116da84.txt" for hit in answer["hits"])
    assert main(["ask", question, "--index", str(tmp_path / "idx")]) == 0
    text = capsys.readouterr().out
    assert text.startswith(NO_ANSWER_TEXT) and "Closest passages:" in text
