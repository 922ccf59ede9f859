"""The OpenAI-compatible HTTP client against a stub server on 127.0.0.1: streaming, and every failure."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from llm_fakes import StubBehaviour, StubOpenAIServer, free_port, passage_with
from small_corpus import answerer_over

from index.embedding import HashingEmbedder
from qa.answer.extractive import ExtractiveAnswerer
from qa.core.errors import LLMError
from qa.core.types import Document
from qa.llm.answerer import LLMAnswerer
from qa.llm.backend import ChatMessage
from qa.llm.http import OpenAIBackend, api_url

MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "Say hello.")]


def test_api_url_forms() -> None:
    assert api_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080/v1/chat/completions"
    assert api_url("http://127.0.0.1:8080/v1/") == "http://127.0.0.1:8080/v1/chat/completions"
    assert api_url("http://h:11434/api/openai/v1") == "http://h:11434/api/openai/v1/chat/completions"
    with pytest.raises(LLMError, match="http"):
        api_url("127.0.0.1:8080")


def test_streamed_tokens_arrive_in_order_with_usage_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_LLM_KEY", "sekrit")
    behaviour = StubBehaviour(reply=lambda m: "Hello there, friend.")
    with StubOpenAIServer(behaviour) as server:
        backend = OpenAIBackend(server.url, "stub-model", api_key_env="MY_LLM_KEY", timeout=5)
        tokens: list[str] = []
        completion = backend.generate(MESSAGES, tokens.append)
    assert tokens == ["Hello ", "there, ", "friend."] and completion.text == "Hello there, friend."
    assert completion.generation.prompt_tokens == 321 and completion.generation.completion_tokens == 7
    request = behaviour.requests[0]
    assert request["stream"] is True and request["model"] == "stub-model"
    assert request["messages"][1] == {"role": "user", "content": "Say hello."}
    assert behaviour.headers[0]["Authorization"] == "Bearer sekrit"


def test_no_key_is_sent_when_the_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QA_LLM_API_KEY", raising=False)
    behaviour = StubBehaviour(mode="json", reply=lambda m: "Whole reply.")
    with StubOpenAIServer(behaviour) as server:
        completion = OpenAIBackend(server.url, "m", timeout=5).generate(MESSAGES)
    assert completion.text == "Whole reply." and "Authorization" not in behaviour.headers[0]


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("garbage", "malformed reply"),
        ("http500", "HTTP 500"),
        ("half", "closed the stream without an answer"),
    ],
)
def test_bad_replies_are_clear_errors(mode: str, message: str) -> None:
    with StubOpenAIServer(StubBehaviour(mode=mode)) as server:
        backend = OpenAIBackend(server.url, "stub-model", timeout=5)
        with pytest.raises(LLMError, match=message) as error:
            backend.generate(MESSAGES)
    assert server.url in str(error.value) and "stub-model" in str(error.value)


def test_a_server_that_is_down_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(LLMError, match="cannot reach the LLM server") as error:
        OpenAIBackend(url, "m", timeout=5).generate(MESSAGES)
    assert url in str(error.value)


def test_a_server_that_stalls_times_out() -> None:
    with StubOpenAIServer(StubBehaviour(mode="stall", stall_seconds=3)) as server:
        began = time.perf_counter()
        with pytest.raises(LLMError, match=r"in time|timed out") as error:
            OpenAIBackend(server.url, "m", timeout=0.5).generate(MESSAGES)
        assert time.perf_counter() - began < 2.5
    assert "timeout 0.5 s" in str(error.value)


DOCS = [
    Document(
        "airships.txt",
        "Airships",
        "airships.txt",
        "The Hindenburg airship burned at Lakehurst in 1937. Hydrogen made the ship dangerous.",
    ),
    Document("bridge.txt", "Bridges", "bridge.txt", "The Golden Gate Bridge was designed by Joseph Strauss."),
]
QUESTION = "When did the Hindenburg airship burn at Lakehurst?"


@pytest.fixture
def extractive(tmp_path: Path, fake_embedder: HashingEmbedder) -> ExtractiveAnswerer:
    return answerer_over(DOCS, tmp_path / "idx", fake_embedder)


def test_answer_through_the_http_client_is_grounded(extractive: ExtractiveAnswerer) -> None:
    def reply(messages):
        return f"The Hindenburg burned at Lakehurst in 1937 [{passage_with(messages, 'Hindenburg')}]."

    with StubOpenAIServer(StubBehaviour(reply=reply)) as server:
        tokens: list[str] = []
        answer = LLMAnswerer(extractive, OpenAIBackend(server.url, "stub-model", timeout=5)).answer(
            QUESTION, on_token=tokens.append
        )
    assert answer.mode == "llm" and answer.sentences[0].supported and len(tokens) == 8
    assert answer.citations[0].text == "The Hindenburg airship burned at Lakehurst in 1937."


@pytest.mark.parametrize("mode", ["down", "stall", "garbage", "http500"])
def test_backend_failures_return_the_extractive_answer_with_the_reason(
    extractive: ExtractiveAnswerer, mode: str
) -> None:
    expected = extractive.answer(QUESTION)
    with StubOpenAIServer(StubBehaviour(mode="stream" if mode == "down" else mode, stall_seconds=2)) as server:
        url = f"http://127.0.0.1:{free_port()}/v1" if mode == "down" else server.url
        answer = LLMAnswerer(extractive, OpenAIBackend(url, "stub-model", timeout=0.5)).answer(QUESTION)
    assert answer.mode == "llm-fallback" and answer.fallback_reason.startswith("the language model failed")
    assert url in answer.fallback_reason
    assert (answer.text, answer.citations) == (expected.text, expected.citations)
    assert answer.to_json()["fallback_reason"] == answer.fallback_reason
