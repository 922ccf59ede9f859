"""A bounded load test of ``qa serve``'s API: 40 asks and searches from 8 threads, then 3 MCP
clients asking at once, against one server (a token with a generous rate limit). Every request
must succeed with citations that quote their documents exactly; the figures (p50, p95) are
recorded in test-output/timings.json, never asserted.

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


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_documents_index(tmp_path_factory.mktemp("load"))


@pytest.fixture(scope="module")
def served(index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    folder = tmp_path_factory.mktemp("load-server")
    auth_file = folder / "auth.json"
    token = CredentialStore(auth_file).create_token("load")
    args = ["--index", str(index), "--uploads", str(folder / "uploads"), "--auth-file", str(auth_file)]
    running = start_server([*args, "--rate-limit", "100000/min"], folder / "logs")
    try:
        yield running, token
    finally:
        running.stop()
    assert BLOCKED not in running.stderr() and token not in running.stderr()


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
