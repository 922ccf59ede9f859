"""``qa eval`` end to end: the official scorer figures, run folders, reports, compare and the gate."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qa.cli import main
from qa.commands.eval_cmd import EXIT_REGRESSION

ROOT = Path(__file__).resolve().parents[2]


def _qa(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "qa.cli", *argv], capture_output=True, text=True, env=env, cwd=ROOT)


# The official evaluate-v1.1.py / evaluate-v2.0.py figures of the committed cuts (tests/data/README.md,
# "Official SQuAD figures of the cut prediction files"; printed by tests/data/make_cuts.py).
@pytest.mark.parametrize(
    ("gold", "predictions", "expected"),
    [
        ("dev-v1.1.json", "v1.1-bert-ensemble.json", {"total": 1198, "exact": 85.893, "f1": 92.325}),
        ("dev-v1.1.json", "v1.1-match-lstm.json", {"total": 1198, "exact": 69.449, "f1": 78.121}),
        (
            "dev-v2.0.json",
            "v2.0-bert-single.json",
            {
                "total": 463,
                "exact": 72.570,
                "f1": 75.068,
                "HasAns_exact": 69.802,
                "HasAns_f1": 75.527,
                "NoAns_exact": 74.713,
            },
        ),
    ],
)
def test_score_reproduces_official_figures(data: Path, gold: str, predictions: str, expected: dict) -> None:
    squad = data / "squad"
    done = _qa("eval", "score", str(squad / gold), str(squad / "predictions" / predictions))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for key, value in expected.items():
        assert abs(result[key] - value) < 0.005, (key, result[key], value)  # to two decimals


def test_score_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    gold = tmp_path / "g.jsonl"
    gold.write_text('{"id": "a", "question": "?", "answers": ["x"]}\n')
    (tmp_path / "p.json").write_text('["not", "an", "object"]')
    assert main(["eval", "score", str(gold), str(tmp_path / "p.json")]) == 1
    assert "p.json: expected a JSON object" in capsys.readouterr().err
    (tmp_path / "p.json").write_text('{"a": "x"}')
    assert main(["eval", "score", str(gold), str(tmp_path / "p.json")]) == 0
    assert json.loads(capsys.readouterr().out)["exact"] == 100.0


@pytest.fixture
def indexed(tmp_path: Path, capsys: pytest.CaptureFixture) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "hamlet.md").write_text(
        "# Hamlet\n\nHamlet is a tragedy written by William Shakespeare. It is set in Denmark.\n\n"
        "Shakespeare was born in Stratford-upon-Avon in 1564.\n"
    )
    (docs / "cats.md").write_text("# Cats\n\nCats purr when they are content. A cat sleeps for 16 hours a day.\n")
    index = tmp_path / "idx"
    assert main(["index", "build", str(docs), "--index", str(index), "--embedder", "hashing:64"]) == 0
    capsys.readouterr()
    return index


def _gold(path: Path) -> Path:
    records = [
        {"id": "h1", "question": "Who wrote Hamlet?", "answers": ["William Shakespeare"], "doc_ids": ["hamlet.md"]},
        {"id": "c1", "question": "How long does a cat sleep?", "answers": ["16 hours"], "doc_ids": ["cats.md"]},
        {"id": "x1", "question": "What is the boiling point of mercury?", "answerable": False},
        {"id": "t1", "question": "Where is Hamlet set?", "answers": ["Denmark"], "conversation_id": "talk", "turn": 1},
        {"id": "t2", "question": "Who wrote it?", "answers": ["Shakespeare"], "conversation_id": "talk", "turn": 2},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _eval(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["eval", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_run_folder_on_an_existing_index(tmp_path: Path, indexed: Path, capsys: pytest.CaptureFixture) -> None:
    gold, run = _gold(tmp_path / "gold.jsonl"), tmp_path / "run"
    code, out, _ = _eval(capsys, str(gold), "--index", str(indexed), "--out", str(run))
    assert code == 0 and f"run folder: {run}" in out
    assert {p.name for p in run.iterdir()} == {
        "metrics.json",
        "per_question.jsonl",
        "predictions.json",
        "report.md",
        "report.html",
    }
    header = json.loads((run / "metrics.json").read_text())
    assert header["index"]["embedder"]["name"] == "hashing:64" and header["index"]["chunker"]["max_tokens"] == 200
    assert "documents" not in header["index"]
    assert re.fullmatch(r"[0-9a-f]{40}", header["git"]["commit"])
    assert header["gold"] == {
        "name": "gold",
        "path": str(gold),
        "kind": "jsonl",
        "questions": 5,
        "unanswerable": 1,
        "articles": [],
    }
    metrics, counts = header["metrics"], header["counts"]
    assert counts["retrieval.recall@1"] == 2 and counts["answer.exact"] == 5 and counts["answer.evidence_accuracy"] == 4
    assert metrics["answer.citation_exactness"] == 1.0  # every quote re-checked against documents.jsonl
    assert {"abstention.precision", "abstention.recall", "abstention.f1", "latency.p95_ms"} <= set(metrics)
    lines = [json.loads(line) for line in (run / "per_question.jsonl").read_text().splitlines()]
    assert [r["id"] for r in lines] == ["h1", "c1", "x1", "t1", "t2"]
    t2 = lines[-1]
    assert {"question", "gold", "answer", "retrieved", "latency_ms", "scores", "pass"} <= set(t2)
    assert t2["answer"]["citations"] and t2["answer"]["rewritten_query"]
    # predictions.json is the official format: re-scoring it gives the run's EM and F1.
    code, out, _ = _eval(capsys, "score", str(gold), str(run / "predictions.json"))
    scored = json.loads(out)
    assert scored["exact"] == pytest.approx(100 * metrics["answer.exact"])
    assert scored["f1"] == pytest.approx(100 * metrics["answer.f1"])
    html = (run / "report.html").read_text()
    # recall@k, latency, evidence answered/abstained, answerable/unanswerable, and the short answers'
    # precision/coverage and reliability
    assert html.count("<svg") == 6 and "Short answers: precision vs coverage" in html
    assert not re.search(r"(src|href)=|https?://(?!www\.w3\.org/2000/svg)", html)  # nothing fetched from outside
    md = (run / "report.md").read_text()
    assert "hashing:64" in md and header["git"]["commit"] in md and "| answer.f1 |" in md


def _squad_file(path: Path) -> Path:
    context = "The Normans were the people who gave their name to Normandy, a region in France."
    other = "Oxygen is a chemical element with symbol O and atomic number 8."
    data = {
        "data": [
            {
                "title": "Normans",
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {"id": "n1", "question": "In what country is Normandy?", "answers": [{"text": "France"}]},
                            {"id": "n2", "question": "Who ruled Mars?", "answers": [], "is_impossible": True},
                        ],
                    }
                ],
            },
            {
                "title": "Oxygen",
                "paragraphs": [
                    {"context": other, "qas": [{"id": "o1", "question": "Atomic number of oxygen?", "answers": []}]}
                ],
            },
        ]
    }
    path.write_text(json.dumps(data))
    return path


def test_squad_gold_builds_a_temporary_index(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    squad = _squad_file(tmp_path / "s.json")
    code, _, _ = _eval(
        capsys, str(squad), "--articles", "Normans", "--embedder", "hashing:64", "--out", str(tmp_path / "r")
    )
    assert code == 0
    header = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert header["index"]["path"].startswith("(temporary") and header["index"]["counts"]["documents"] == 1
    assert header["gold"]["questions"] == 2 and header["gold"]["articles"] == ["Normans"]
    # --index DIR that holds no index: built there from the gold corpus, then reused.
    index = tmp_path / "kept"
    assert (
        _eval(capsys, str(squad), "--index", str(index), "--embedder", "hashing:64", "--out", str(tmp_path / "k"))[0]
        == 0
    )
    assert json.loads((tmp_path / "k" / "metrics.json").read_text())["index"]["counts"]["documents"] == 2


def test_baseline_gate_and_compare(tmp_path: Path, indexed: Path, capsys: pytest.CaptureFixture) -> None:
    gold = _gold(tmp_path / "gold.jsonl")
    base, again = tmp_path / "base", tmp_path / "again"
    assert _eval(capsys, str(gold), "--index", str(indexed), "--out", str(base))[0] == 0
    # The same code and index: nothing drops, so the gate passes even at tolerance 0.
    code, out, _ = _eval(
        capsys, str(gold), "--index", str(indexed), "--out", str(again), "--baseline", str(base), "--tolerance", "0"
    )
    assert code == 0 and "compared with baseline" in out

    # A baseline that was better by 0.3 on F1 (and much faster): a regression beyond 0.2 fails with exit 4.
    better = tmp_path / "better"
    shutil.copytree(base, better)
    header = json.loads((better / "metrics.json").read_text())
    header["metrics"]["answer.f1"] += 0.3
    header["metrics"]["latency.p50_ms"] /= 10
    (better / "metrics.json").write_text(json.dumps(header))
    args = [str(gold), "--index", str(indexed), "--out", str(tmp_path / "r3"), "--baseline", str(better)]
    code, _, err = _eval(capsys, *args, "--tolerance", "0.2")
    assert code == EXIT_REGRESSION
    assert "regression: answer.f1" in err and "latency" not in err  # latency is not gated by default
    code, _, err = _eval(capsys, *args, "--tolerance", "0.35")
    assert code == 0
    code, _, err = _eval(capsys, *args, "--tolerance", "0.35", "--latency-tolerance", "2")
    assert code == EXIT_REGRESSION and "regression: latency.p50_ms" in err

    # compare: a question whose exact match flipped is listed with its id.
    lines = (better / "per_question.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["pass"]["exact"] = not first["pass"]["exact"]
    lines[0] = json.dumps(first)
    (better / "per_question.jsonl").write_text("\n".join(lines) + "\n")
    code, out, _ = _eval(capsys, "compare", str(better), str(base))
    assert code == 0 and "h1" in out and "exact: " in out and "answer.f1" in out
    code, out, _ = _eval(capsys, "compare", str(better), str(base), "--json")
    data = json.loads(out)
    assert [(f["qid"], f["check"]) for f in data["flips"]] == [("h1", "exact")]
    assert data["deltas"]["answer.f1"]["delta"] == pytest.approx(-0.3)

    # A baseline over other questions cannot gate this run: an error (exit 1), not a pass.
    (tmp_path / "fewer.jsonl").write_text(gold.read_text().splitlines()[0] + "\n")
    code, _, err = _eval(
        capsys,
        str(tmp_path / "fewer.jsonl"),
        "--index",
        str(indexed),
        "--out",
        str(tmp_path / "r4"),
        "--baseline",
        str(base),
    )
    assert code == 1 and "different questions" in err


def test_errors_are_messages_with_exit_1(tmp_path: Path, indexed: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "?"}\n{"id": "b"}\n')
    code, _, err = _eval(capsys, str(bad), "--index", str(indexed))
    assert code == 1 and "bad.jsonl:2" in err
    stray = tmp_path / "stray.jsonl"
    stray.write_text('{"id": "a", "question": "Who wrote Hamlet?", "doc_ids": ["plays/hamlet.md"]}\n')
    code, _, err = _eval(capsys, str(stray), "--index", str(indexed), "--out", str(tmp_path / "s"))
    assert code == 0 and "1 gold doc_ids are not in the index, e.g. ['plays/hamlet.md']" in err
    code, _, err = _eval(capsys, "compare", str(tmp_path), str(tmp_path))
    assert code == 1 and "not a run folder" in err
    gold = _gold(tmp_path / "gold.jsonl")
    code, _, err = _eval(capsys, str(gold))  # a JSONL gold set has no corpus to index
    assert code == 1 and "give --index" in err
    code, _, err = _eval(capsys, str(gold), "--index", str(tmp_path / "new"))
    assert code == 1 and "give --index" in err and not (tmp_path / "new").exists()


def test_conversations_are_asked_in_one_chat_session(
    tmp_path: Path, indexed: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import eval.runner
    from qa.answer.chat import ChatSession

    sessions: list[list[str]] = []

    class Recording(ChatSession):
        def ask(self, question: str):
            if not self.turns:
                sessions.append([])
            sessions[-1].append(question)
            return super().ask(question)

    monkeypatch.setattr(eval.runner, "ChatSession", Recording)
    assert (
        _eval(capsys, str(_gold(tmp_path / "g.jsonl")), "--index", str(indexed), "--out", str(tmp_path / "r"))[0] == 0
    )
    assert sessions == [["Where is Hamlet set?", "Who wrote it?"]]  # the others are asked alone


@pytest.mark.parametrize(
    "argv",
    [["score", "gold.json"], ["compare", "a", "b", "c"], ["one.json", "two.json"], ["g.json", "--per-article", "3"]],
)
def test_bad_usage_exits_2(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["eval", *argv])
    assert exc.value.code == 2 and "usage: qa eval" in capsys.readouterr().err
