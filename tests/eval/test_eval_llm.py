"""``qa eval --llm``: the usual metrics plus unsupported sentences and generation speed (stub server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llm_fakes import StubBehaviour, StubOpenAIServer, free_port

from qa.cli import main

GOLD = [
    {"id": "q1", "question": "Who discovered oxygen?", "answers": ["Carl Wilhelm Scheele"], "doc_ids": ["oxygen.txt"]},
    {"id": "q2", "question": "When did Chopin die?", "answers": ["1849"], "doc_ids": ["chopin.txt"]},
]


@pytest.fixture
def setup(tmp_path: Path, capsys: pytest.CaptureFixture) -> tuple[Path, Path]:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "chopin.txt").write_text("Chopin was a composer. He died in Paris in 1849.\n")
    (docs / "oxygen.txt").write_text("Oxygen is an element. It was discovered by Carl Wilhelm Scheele in 1771.\n")
    root = tmp_path / "idx"
    assert main(["index", "build", str(docs), "--index", str(root), "--embedder", "hashing:256"]) == 0
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps(g) + "\n" for g in GOLD))
    capsys.readouterr()
    return root, gold


def reply(messages) -> str:
    asked = messages[-1].content.split("Question:")[1]
    if "oxygen" in asked:
        return "It was discovered by Carl Wilhelm Scheele in 1771. Scheele also flew to the moon."
    return "Chopin died in Paris in 1849 [1]."


def test_eval_llm_reports_unsupported_share_and_speed(setup, tmp_path: Path, capsys) -> None:
    root, gold = setup
    out = tmp_path / "run"
    # Pieces a little apart: a stream that arrives whole takes no measurable generation time.
    with StubOpenAIServer(StubBehaviour(reply=reply, piece_delay=0.002)) as server:
        assert main(["eval", str(gold), "--index", str(root), "--out", str(out), "--llm-url", server.url]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    m = metrics["metrics"]
    assert m["answer.unsupported_share"] == pytest.approx(1 / 3) and metrics["counts"]["answer.unsupported_share"] == 3
    assert m["answer.llm_fallback_rate"] == 0.0 and m["answer.citation_exactness"] == 1.0
    assert m["llm.generation_tokens_per_s"] > 0 and m["llm.prompt_tokens_per_s"] > 0
    assert metrics["llm"]["backend"].startswith("model 'default' at http://127.0.0.1:")
    predictions = json.loads((out / "predictions.json").read_text())
    assert predictions["q2"] == "Chopin died in Paris in 1849."
    assert m["answer.f1"] > 0
    report = (out / "report.md").read_text()
    assert "answer.unsupported_share" in report and "language model" in report


def test_eval_llm_with_the_server_down_still_scores_extractive_answers(setup, tmp_path: Path) -> None:
    root, gold = setup
    out = tmp_path / "run"
    url = f"http://127.0.0.1:{free_port()}/v1"
    assert main(["eval", str(gold), "--index", str(root), "--out", str(out), "--llm-url", url]) == 0
    m = json.loads((out / "metrics.json").read_text())["metrics"]
    assert m["answer.llm_fallback_rate"] == 1.0 and "answer.unsupported_share" not in m
    # Every question still got a cited extractive answer (which sentence the fake embedder prefers is not the point).
    assert m["answer.citation_exactness"] == 1.0 and m["answer.abstained_rate"] == 0.0
    predictions = json.loads((out / "predictions.json").read_text())
    assert set(predictions) == {"q1", "q2"}
