"""``qa ask --llm`` and ``qa chat --llm`` against a stub OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import test_cli_ask
from llm_fakes import StubBehaviour, StubOpenAIServer, free_port, passage_with, require_llm_extra

from index.store import IndexDir
from qa.cli import main

QUESTION = "Who discovered oxygen?"
index = test_cli_ask.index  # the same two-document index fixture


def reply(messages) -> str:
    if "oxygen" in messages[-1].content.split("Question:")[1]:
        n = passage_with(messages, "Scheele")
        return f"Oxygen was discovered by Carl Wilhelm Scheele in 1771 [{n}]. He was a wizard [{n}]."
    return "Chopin died in Paris in 1849."


def test_ask_llm_streams_then_prints_the_checked_answer(index: Path, capsys: pytest.CaptureFixture) -> None:
    with StubOpenAIServer(StubBehaviour(reply=reply)) as server:
        assert main(["ask", QUESTION, "--index", str(index), "--llm-url", server.url, "--llm-timeout", "5"]) == 0
    out = capsys.readouterr().out
    streamed, _, checked = out.partition("-- checked against the documents --")
    assert streamed.strip().startswith("Oxygen was discovered by Carl Wilhelm Scheele in 1771 [")
    assert "Oxygen was discovered by Carl Wilhelm Scheele in 1771. [1]" in checked
    assert "He was a wizard. [unsupported]" in checked
    assert "(oxygen.txt, chars" in checked


def test_ask_llm_json_is_the_final_answer_only(index: Path, capsys: pytest.CaptureFixture) -> None:
    with StubOpenAIServer(StubBehaviour(reply=reply)) as server:
        assert main(["ask", QUESTION, "--index", str(index), "--llm", "--llm-url", server.url, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["mode"] == "llm"
    assert [(s["citations"], s["supported"]) for s in answer["sentences"]] == [([1], True), ([], False)]
    stored = IndexDir(index).load()
    for c in answer["citations"]:
        assert stored.document(c["doc_id"]).text[c["start"] : c["end"]] == c["quote"]


def test_ask_llm_with_the_server_down_prints_the_reason_and_the_extractive_answer(
    index: Path, capsys: pytest.CaptureFixture
) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    assert main(["ask", QUESTION, "--index", str(index), "--llm-url", url]) == 0
    out = capsys.readouterr().out
    assert "LLM answer not used: the language model failed: cannot reach the LLM server" in out and url in out
    # The extractive quote: the sentence and the one before it that "It" refers to (qa/answer/spans.py).
    assert "atomic number 8. It was discovered by Carl Wilhelm Scheele in 1771. [1]" in " ".join(out.split())
    assert main(["ask", QUESTION, "--index", str(index), "--llm-url", url, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["mode"] == "llm-fallback" and "cannot reach" in data["fallback_reason"]


def test_chat_llm_streams_each_turn(
    index: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{QUESTION}\nWhen did Chopin die?\n/quit\n"))
    with StubOpenAIServer(StubBehaviour(reply=reply)) as server:
        assert main(["chat", "--index", str(index), "--llm-url", server.url]) == 0
    out = capsys.readouterr().out
    assert out.count("-- checked against the documents --") == 2
    assert "Chopin died in Paris in 1849. [1]" in out


def test_a_missing_gguf_is_a_clear_error(index: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # Without the extra the same command fails earlier, on the missing llama-cpp-python.
    require_llm_extra("llama_cpp")
    assert main(["ask", QUESTION, "--index", str(index), "--gguf", str(tmp_path / "none.gguf")]) == 1
    assert "no GGUF model file at" in capsys.readouterr().err
