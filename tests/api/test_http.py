"""The HTTP API of ``qa serve`` (api/http.py) under ``/api/v1``: the same JSON as the CLI, streamed
answers, the documents, health, errors, and the OpenAPI schema as one contract with the CLI's JSON.

The index is built with the deterministic hashing embedder; every span is checked against the
stored document. The server tests share one ``qa serve`` subprocess, stopped by its PID.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from test_mcp import two_documents_index, verify
from ui_server import BLOCKED, Server, start_server

from index.store import IndexDir
from qa.cli import main
from qa.core.answers import AnswerSentence, Generation

API = "api/v1"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_documents_index(tmp_path_factory.mktemp("http"))


@pytest.fixture(scope="module")
def server(index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    logs = tmp_path_factory.mktemp("http-logs")
    running = start_server(["--index", str(index), "--uploads", str(logs / "uploads")], logs)
    try:
        yield running
    finally:
        running.stop()
    assert BLOCKED not in running.stderr()


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url + API, timeout=60) as http:
        yield http


def cli_json(capsys: pytest.CaptureFixture, *args: str) -> dict:
    capsys.readouterr()
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow  # one `qa serve` start-up (~5 s) for the module
def test_ask_and_search_give_exactly_what_the_cli_prints(
    client: httpx.Client, index: Path, capsys: pytest.CaptureFixture
) -> None:
    stored = IndexDir(index).load()
    for question in ("When did Chopin move to Paris?", "What is the boiling point of tungsten?"):
        answer = client.post("/ask", json={"question": question, "passages": 3})
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
        assert answer.json() == cli_json(capsys, "ask", question, "--index", str(index), "-k", "3", "--json")
        for citation in answer.json()["citations"]:
            verify(stored, citation, "quote")
    found = client.post("/search", json={"query": "oxygen discovered", "k": 2, "mode": "bm25"})
    assert found.json() == cli_json(
        capsys, "search", "oxygen discovered", "--index", str(index), "-k", "2", "--mode", "bm25", "--json"
    )
    assert found.json()["hits"][0]["doc_id"] == "oxygen.txt"
    for hit in found.json()["hits"]:
        verify(stored, hit, "text")


@pytest.mark.slow
def test_a_streamed_answer_ends_with_the_whole_checked_answer(client: httpx.Client, index: Path) -> None:
    question = {"question": "Who discovered oxygen and when?"}
    with client.stream("POST", "/ask", json=question | {"stream": True}) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        events = [block for block in response.read().decode().split("\n\n") if block]
    kind, data = events[-1].split("\n", 1)
    assert kind == "event: answer" and data.startswith("data: ")
    streamed = json.loads(data.removeprefix("data: "))
    assert streamed == client.post("/ask", json=question).json()  # extractive: the answer event only
    assert "Carl Wilhelm Scheele" in streamed["citations"][0]["quote"]
    verify(IndexDir(index).load(), streamed["citations"][0], "quote")


@pytest.mark.slow
def test_upload_list_and_delete_round_trip(client: httpx.Client, server: Server) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and (health["documents"], health["chunks"]) == (2, 2)
    assert health["embedder"] == "hashing:64" and health["llm"] is False
    listed = client.get("/documents").json()["documents"]
    assert {d["doc_id"]: (d["chunks"], d["pages"]) for d in listed} == {"oxygen.txt": (1, 0), "chopin.txt": (1, 0)}

    files = [
        ("files", ("tungsten.txt", b"Tungsten boils at 5930 kelvin, the highest of all metals.\n", "text/plain")),
        ("files", ("notes.exe", b"MZ", "application/octet-stream")),
    ]
    uploaded = client.post("/documents", files=files)
    assert uploaded.status_code == 200
    assert uploaded.json()["indexed"] == ["uploads/tungsten.txt"]
    assert [(r["name"], "'.exe'" in r["reason"]) for r in uploaded.json()["rejected"]] == [("notes.exe", True)]
    assert "uploads/tungsten.txt" in {d["doc_id"] for d in client.get("/documents").json()["documents"]}
    answer = client.post("/ask", json={"question": "At what temperature does tungsten boil?"}).json()
    assert answer["citations"][0]["doc_id"] == "uploads/tungsten.txt"
    assert client.get("/health").json()["generation"] != health["generation"]  # a new generation, picked up

    refused = client.delete("/documents/oxygen.txt")  # the indexed corpus is not the server's to delete
    assert refused.status_code == 403 and "oxygen.txt" in refused.json()["error"]
    assert client.delete("/documents/nowhere.txt").status_code == 404
    deleted = client.delete("/documents/uploads/tungsten.txt")
    assert deleted.status_code == 200 and deleted.json() == {"deleted": "uploads/tungsten.txt"}
    assert {d["doc_id"] for d in client.get("/documents").json()["documents"]} == {"oxygen.txt", "chopin.txt"}


@pytest.mark.slow
def test_bad_requests_are_json_errors_naming_the_value(client: httpx.Client) -> None:
    bad_k = client.post("/search", json={"query": "oxygen", "k": 500})
    assert bad_k.status_code == 422 and bad_k.json()["error"].startswith("k: ") and "500" in bad_k.json()["error"]
    mode = client.post("/search", json={"query": "oxygen", "mode": "sparse"})
    assert mode.status_code == 422 and "mode" in mode.json()["error"] and "sparse" in mode.json()["error"]
    empty = client.post("/ask", json={"question": "   "})
    assert empty.status_code == 400 and empty.json() == {"error": "empty question"}
    big = client.post("/ask", json={"question": "x" * 70_000})
    assert big.status_code == 413 and "65536" in big.json()["error"]
    assert "Traceback" not in (bad_k.text + empty.text + big.text)
    elsewhere = client.post("/documents", files=[("files", ("a.txt", b"x"))], headers={"origin": "http://evil.example"})
    assert elsewhere.status_code == 403 and "evil.example" in elsewhere.json()["error"]
    rebound = client.get("/documents", headers={"host": f"evil.example:{client.base_url.port}"})
    assert rebound.status_code == 403 and "evil.example" in rebound.json()["error"]


@pytest.mark.slow
def test_the_served_schema_lists_the_routes(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    paths = {(path, method) for path, item in schema["paths"].items() for method in item}
    assert {
        ("/api/v1/ask", "post"),
        ("/api/v1/search", "post"),
        ("/api/v1/documents", "get"),
        ("/api/v1/documents", "post"),
        ("/api/v1/documents/{doc_id}", "delete"),
        ("/api/v1/health", "get"),
        ("/v1/chat/completions", "post"),
    } <= paths
    assert schema == _schema()  # the one the contract test below reads


def _schema() -> dict:
    """The API's OpenAPI schema, as the server builds it (no server needed)."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from api import http, openai_compat

    class NoUploads:
        max_bytes = 2**20

    app = FastAPI()
    http.mount(app, http.build_router(None, NoUploads()), openai_compat.build_router(None))  # type: ignore[arg-type]
    with TestClient(app) as test:
        return test.get(http.PREFIX + "/openapi.json").json()


def test_the_schema_and_the_cli_json_are_one_contract(index: Path) -> None:
    """The OpenAPI Answer and Hit schemas have exactly the keys of Answer.to_json and Hit.to_json:
    the always-present ones required, the LLM answers' own ones optional."""
    from qa.engine import Engine

    components = _schema()["components"]["schemas"]
    answer = Engine(index).ask("When did Chopin move to Paris?")  # cites, with a short answer
    extractive = answer.to_json()
    sentence = AnswerSentence("Oxygen.", (1,), True, (1,), 0.5)
    generation = Generation("model", 1, 2, 0.1, 0.2)
    llm = replace(answer, mode="llm-fallback", sentences=(sentence,), fallback_reason="why", generation=generation)
    full = llm.to_json()
    schema = components["AnswerJSON"]
    assert set(schema["properties"]) == set(full)
    assert set(schema["required"]) == set(extractive)
    assert set(full) - set(extractive) == {"sentences", "fallback_reason", "generation"}
    assert set(components["CitationJSON"]["properties"]) == set(extractive["citations"][0])
    assert set(components["HitJSON"]["properties"]) == set(extractive["hits"][0])
    assert set(components["ShortSpanJSON"]["properties"]) == set(extractive["short_answer_span"])
    assert set(components["SentenceJSON"]["properties"]) == set(full["sentences"][0])
    assert set(components["GenerationJSON"]["properties"]) == set(full["generation"])
    assert set(components["BoxJSON"]["properties"]) == {"page", "x0", "y0", "x1", "y1"}
    assert set(components["SearchJSON"]["properties"]) == {"query", "mode", "hits"}  # qa search --json


def test_an_llm_answer_streams_its_tokens_then_the_checked_answer(index: Path) -> None:
    """In process (no server): `token` events as the model writes, then the `answer` event, whose
    citations are the verified ones; the OpenAI stream sends only the checked text."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from llm_fakes import FakeLLM, passage_with

    from api import http, openai_compat
    from qa.engine import Engine

    class NoUploads:
        max_bytes = 2**20

    def reply(messages) -> str:
        return f"Carl Wilhelm Scheele discovered oxygen in 1771 [{passage_with(messages, 'Scheele')}]."

    engine = Engine(index, llm=FakeLLM(reply))
    app = FastAPI()
    http.mount(app, http.build_router(engine, NoUploads()), openai_compat.build_router(engine), host="testserver")
    with TestClient(app) as test:
        body = test.post("/api/v1/ask", json={"question": "Who discovered oxygen?", "stream": True}).text
        chat = test.post(
            "/v1/chat/completions",
            json={"model": "qa", "stream": True, "messages": [{"role": "user", "content": "Who discovered oxygen?"}]},
        ).text
    events = [block.split("\n", 1) for block in body.split("\n\n") if block]
    kinds = [kind.removeprefix("event: ") for kind, _ in events]
    assert kinds[-1] == "answer" and set(kinds[:-1]) == {"token"} and len(kinds) > 3
    tokens = "".join(json.loads(data.removeprefix("data: "))["text"] for _, data in events[:-1])
    assert tokens.startswith("Carl Wilhelm Scheele discovered oxygen in 1771 [")  # the model's own words
    answer = json.loads(events[-1][1].removeprefix("data: "))
    assert answer["mode"] == "llm" and answer["citations"] and "Scheele" in answer["answer"]
    for citation in answer["citations"]:
        verify(IndexDir(index).load(), citation, "quote")
    chunks = [line.removeprefix("data: ") for line in chat.split("\n\n") if line]
    assert chunks[-1] == "[DONE]"
    content = "".join(json.loads(c)["choices"][0]["delta"].get("content") or "" for c in chunks[:-1])
    assert content.startswith(answer["answer"] + "\n\nSources:\n[1] ")
    assert json.loads(chunks[-2])["citations"] == answer["citations"]
