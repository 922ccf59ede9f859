"""The ``qa`` command end to end: JSON contracts, exit codes, and offline operation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qa.cli import main

HIT_KEYS = {"doc_id", "title", "source", "page", "start", "end", "boxes", "text", "score", "scores"}
NETGUARD = Path(__file__).parents[1] / "netguard"


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "cats.md").write_text("# Cats\n\nCats purr when they are content. They sleep all day.\n")
    (root / "sub" / "dogs.txt").write_text("Dogs\n\nDogs bark at strangers and need a daily walk.\n")
    (root / "notes.exe").write_bytes(b"MZ\x00\x01")
    (root / "empty.txt").write_text("")
    return root


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_build_info_search_json_contract(tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture) -> None:
    index = str(tmp_path / "idx")
    code, out, _ = _run(capsys, "index", "build", str(corpus), "--index", index, "--embedder", "hashing:64", "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["documents"] == 2 and summary["chunks"] >= 2
    assert sorted(s["reason"] for s in summary["skipped"]) == ["empty file", "unsupported file type '.exe'"]

    code, out, _ = _run(capsys, "index", "info", "--index", index, "--json")
    info = json.loads(out)
    assert info["counts"]["documents"] == 2 and info["embedder"]["name"] == "hashing:64"
    assert {"format_version", "chunker", "created_at", "generation"} <= set(info)

    code, out, _ = _run(capsys, "search", "strangers bark", "--index", index, "-k", "2", "--json")
    result = json.loads(out)
    assert code == 0 and result["query"] == "strangers bark"
    assert set(result["hits"][0]) == HIT_KEYS
    top = result["hits"][0]
    assert top["doc_id"] == "sub/dogs.txt"
    source_text = (corpus / "sub" / "dogs.txt").read_text()
    assert source_text[top["start"] : top["end"]] == top["text"]


def test_queries_file_prints_one_json_line_each(tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture) -> None:
    index = str(tmp_path / "idx")
    assert _run(capsys, "index", "build", str(corpus), "--index", index, "--embedder", "hashing:64")[0] == 0
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"id": "a", "question": "purring cats"}\n\n{"_id": "b", "text": "dog walk"}\n')
    code, out, _ = _run(capsys, "search", "--queries", str(queries), "--index", index, "-k", "1", "--mode", "bm25")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [line["id"] for line in lines] == ["a", "b"]
    assert lines[0]["hits"][0]["doc_id"] == "cats.md" and lines[1]["hits"][0]["doc_id"] == "sub/dogs.txt"
    assert all(set(line) == {"id", "query", "hits"} for line in lines)


def test_errors_are_messages_with_exit_codes(tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = _run(capsys, "search", "cats", "--index", str(tmp_path / "none"))
    assert code == 1 and "no index at" in err and "Traceback" not in err
    index = str(tmp_path / "idx")
    code, _, _ = _run(capsys, "index", "build", str(corpus), "--index", index, "--embedder", "hashing:64", "--strict")
    assert code == 3  # built, but two files were skipped
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"nope": 1}\n')
    code, _, err = _run(capsys, "search", "--queries", str(bad), "--index", index)
    assert code == 1 and "bad.jsonl:1" in err


def test_index_location_comes_from_the_environment(
    tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QA_INDEX", str(tmp_path / "env-idx"))
    assert _run(capsys, "index", "build", str(corpus), "--embedder", "hashing:64")[0] == 0
    assert (tmp_path / "env-idx" / "CURRENT").is_file()


def _offline_cmd() -> list[str]:
    """Run in a network namespace with no interfaces when we may (root in CI)."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n"]
    return []


@pytest.mark.slow
def test_real_model_build_and_search_work_with_no_network(tmp_path: Path, data: Path) -> None:
    seed = data / "seeds" / "000_e0905da38116da84.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(NETGUARD), env.get("PYTHONPATH", "")])
    env["HOME"] = str(tmp_path)  # no model cache to fall back on
    prefix = [*_offline_cmd(), sys.executable, "-m", "qa.cli"]
    index = str(tmp_path / "idx")
    build = subprocess.run(
        [*prefix, "index", "build", str(seed), "--index", index, "--json"],
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    assert "NETWORK ACCESS BLOCKED" not in build.stderr
    assert json.loads(build.stdout)["documents"] == 1
    search = subprocess.run(
        [
            *prefix,
            "search",
            "Who is the head of the UN Counter-Terrorism Office?",
            "--index",
            index,
            "-k",
            "3",
            "--json",
        ],
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
    )
    assert search.returncode == 0, search.stderr
    assert "NETWORK ACCESS BLOCKED" not in search.stderr
    text = seed.read_text(encoding="utf-8")
    hits = json.loads(search.stdout)["hits"]
    assert hits and all(text[h["start"] : h["end"]] == h["text"] for h in hits)
    assert "Voronkov" in hits[0]["text"]


def test_the_network_guard_refuses_connections(tmp_path: Path) -> None:
    """The offline tests prove something only if the guard really refuses a connection."""
    probe = "import socket; socket.create_connection(('192.0.2.1', 80), timeout=1)"  # TEST-NET-1
    env = {**os.environ, "PYTHONPATH": str(NETGUARD)}
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "NETWORK ACCESS BLOCKED" in result.stderr
