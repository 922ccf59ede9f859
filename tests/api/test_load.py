"""A bounded load test of ``qa serve``: 40 asks and searches from 8 threads, 3 MCP clients asking
at once, and 48 requests from 8 threads mixing every way in (the API, MCP, the OpenAI-compatible
chat and the browser chat, logged in), against one server (a token with a generous rate limit and
a user). Every request must succeed with citations that quote their documents exactly; the
figures (p50, p95) are recorded in test-output/timings.json, never asserted.

One ``qa serve`` subprocess on 127.0.0.1, stopped by its PID.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from test_mcp import two_documents_index, verify
from ui_server import BLOCKED, Server, record_timing, start_server

from index.store import IndexDir
from qa.core.credentials import CredentialStore

REQUESTS = 40
THREADS = 8
MCP_CLIENTS = 3
TIMEOUT = 120  # seconds, for any one request
QUESTIONS = (
    "When did Chopin move to Paris?",
    "Who discovered oxygen and when?",
    "What is the atomic number of oxygen?",
)
QUERIES = ("oxygen discovered", "Chopin Paris", "atomic number")
PASSWORD = "a long pass phrase"
# The mixed test: 48 requests, a fixed mix of every way in, 8 at a time, all bounded by MIXED_TIMEOUT.
MIX = ("api_ask", "api_search", "mcp_ask", "openai_chat", "browser_chat", "api_ask")
MIXED_REQUESTS = 48
MIXED_TIMEOUT = 900  # seconds, for the whole run


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_documents_index(tmp_path_factory.mktemp("load"))


@pytest.fixture(scope="module")
def served(index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    folder = tmp_path_factory.mktemp("load-server")
    auth_file = folder / "auth.json"
    store = CredentialStore(auth_file)
    token = store.create_token("load")
    store.add_user("ann", PASSWORD)
    args = ["--index", str(index), "--uploads", str(folder / "uploads"), "--auth-file", str(auth_file)]
    running = start_server([*args, "--rate-limit", "100000/min"], folder / "logs")
    try:
        yield running, token
    finally:
        running.stop()
    assert BLOCKED not in running.stderr() and token not in running.stderr() and PASSWORD not in running.stderr()


def _percentile(seconds: list[float], p: float) -> float:
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


@pytest.mark.slow  # one `qa serve` start-up and 40 requests
def test_forty_mixed_requests_from_eight_threads_all_succeed(served: tuple[Server, str], index: Path) -> None:
    server, token = served
    stored = IndexDir(index).load()

    def one(i: int) -> tuple[int, float, dict]:
        with httpx.Client(base_url=server.url, timeout=TIMEOUT, headers={"authorization": f"Bearer {token}"}) as http:
            began = time.perf_counter()
            if i % 2:
                response = http.post("api/v1/ask", json={"question": QUESTIONS[i % len(QUESTIONS)]})
            else:
                response = http.post("api/v1/search", json={"query": QUERIES[i % len(QUERIES)], "k": 3})
            return response.status_code, time.perf_counter() - began, response.json()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(one, range(REQUESTS), timeout=REQUESTS * TIMEOUT))
    assert [status for status, _, _ in results] == [200] * REQUESTS
    for i, (_, _, body) in enumerate(results):
        if i % 2:
            assert not body["abstained"] and body["citations"], body["question"]
            for citation in body["citations"]:
                verify(stored, citation, "quote")
        else:
            assert body["hits"]
        for hit in body["hits"]:
            verify(stored, hit, "text")
    seconds = [s for _, s, _ in results]
    record_timing("api_load_40_requests_8_threads_p50_s", _percentile(seconds, 0.5))
    record_timing("api_load_40_requests_8_threads_p95_s", _percentile(seconds, 0.95))
    with httpx.Client(base_url=server.url, timeout=TIMEOUT, headers={"authorization": f"Bearer {token}"}) as http:
        assert http.get("api/v1/health").json()["status"] == "ok"


@pytest.mark.slow
def test_three_mcp_clients_ask_at_once(served: tuple[Server, str], index: Path) -> None:
    server, token = served
    answers: list[dict] = []

    async def client(question: str) -> None:
        async with (
            create_mcp_http_client(headers={"authorization": f"Bearer {token}"}) as http,
            streamable_http_client(server.url + "mcp", http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            result = await session.call_tool("ask", {"question": question})
            assert not result.is_error, result
            answers.append(result.structured_content)

    async def run() -> None:
        with anyio.fail_after(TIMEOUT):
            async with anyio.create_task_group() as group:
                for i in range(MCP_CLIENTS):
                    group.start_soon(client, QUESTIONS[i % len(QUESTIONS)])

    anyio.run(run)
    assert len(answers) == MCP_CLIENTS
    stored = IndexDir(index).load()
    for answer in answers:
        assert not answer["abstained"] and answer["citations"]
        for citation in answer["citations"]:
            verify(stored, citation, "quote")
    with httpx.Client(base_url=server.url, timeout=TIMEOUT, headers={"authorization": f"Bearer {token}"}) as http:
        assert http.get("api/v1/health").status_code == 200


def _mcp_ask(server: Server, token: str, question: str) -> dict:
    result: dict = {}

    async def run() -> None:
        with anyio.fail_after(TIMEOUT):
            async with (
                create_mcp_http_client(headers={"authorization": f"Bearer {token}"}) as http,
                streamable_http_client(server.url + "mcp", http_client=http) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                called = await session.call_tool("ask", {"question": question})
                assert not called.is_error, called
                result.update(called.structured_content or {})

    anyio.run(run)
    return result


@pytest.mark.slow  # one `qa serve` start-up (shared) and 48 requests of five kinds
def test_forty_eight_requests_mixing_api_mcp_openai_and_the_browser_chat(
    served: tuple[Server, str], index: Path
) -> None:
    from gradio_client import Client

    server, token = served
    stored = IndexDir(index).load()
    bearer = {"authorization": f"Bearer {token}"}

    def one(i: int) -> tuple[str, float, list[dict], str | None]:
        """(kind, seconds, the spans to check as (span, text key), the error if any) of request ``i``."""
        kind, question = MIX[i % len(MIX)], QUESTIONS[i % len(QUESTIONS)]
        try:
            if kind == "browser_chat":  # logged in as gradio's own page is; the login is not timed
                client = Client(server.url, auth=("ann", PASSWORD), verbose=False, analytics_enabled=False)
                began = time.perf_counter()
                outputs = client.predict(question, 3, "extractive", api_name="/ask")
                seconds, answer = time.perf_counter() - began, outputs[-1]
                assert isinstance(answer, dict) and not answer["abstained"] and answer["citations"], outputs
                return kind, seconds, [(c, "quote") for c in answer["citations"]], None
            if kind == "mcp_ask":
                began = time.perf_counter()
                answer = _mcp_ask(server, token, question)
                seconds = time.perf_counter() - began
                assert not answer["abstained"] and answer["citations"], answer
                return kind, seconds, [(c, "quote") for c in answer["citations"]], None
            with httpx.Client(base_url=server.url, timeout=TIMEOUT, headers=bearer) as http:
                began = time.perf_counter()
                if kind == "api_ask":
                    response = http.post("api/v1/ask", json={"question": question})
                elif kind == "api_search":
                    response = http.post("api/v1/search", json={"query": QUERIES[i % len(QUERIES)], "k": 3})
                else:
                    chat = {"model": "qa", "messages": [{"role": "user", "content": question}]}
                    response = http.post("v1/chat/completions", json=chat)
                seconds = time.perf_counter() - began
            assert response.status_code == 200, (response.status_code, response.text[:500])
            body = response.json()
            if kind == "api_search":
                assert body["hits"], body
                return kind, seconds, [(h, "text") for h in body["hits"]], None
            if kind == "openai_chat":
                assert body["choices"][0]["message"]["content"] and body["citations"], body
                return kind, seconds, [(c, "quote") for c in body["citations"]], None
            assert not body["abstained"] and body["citations"], body
            spans = [(c, "quote") for c in body["citations"]] + [(h, "text") for h in body["hits"]]
            return kind, seconds, spans, None
        except Exception as error:  # every failure is reported below, with its request
            return kind, 0.0, [], f"request {i} ({kind}): {type(error).__name__}: {str(error)[:500]}"

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(one, range(MIXED_REQUESTS), timeout=MIXED_TIMEOUT))
    wall = time.perf_counter() - began
    assert [error for _, _, _, error in results if error] == []
    assert len(results) == MIXED_REQUESTS
    for _, _, spans, _ in results:
        for span, key in spans:
            verify(stored, span, key)
    for kind in sorted(set(MIX)):
        seconds = [s for k, s, _, _ in results if k == kind]
        record_timing(f"mixed_load_48_requests_8_threads_{kind}_p50_s", _percentile(seconds, 0.5))
        record_timing(f"mixed_load_48_requests_8_threads_{kind}_p95_s", _percentile(seconds, 0.95))
    every = [s for _, s, _, _ in results]
    record_timing("mixed_load_48_requests_8_threads_all_p50_s", _percentile(every, 0.5))
    record_timing("mixed_load_48_requests_8_threads_all_p95_s", _percentile(every, 0.95))
    record_timing("mixed_load_48_requests_8_threads_wall_s", wall)
    with httpx.Client(base_url=server.url, timeout=TIMEOUT, headers=bearer) as http:
        assert http.get("api/v1/health").json()["status"] == "ok"
    assert "Traceback" not in server.stderr()
