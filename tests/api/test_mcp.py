"""The MCP server (api/mcp.py), driven by the MCP SDK's own client: ``qa mcp`` over stdio, and the
streamable-HTTP endpoint ``/mcp`` of ``qa serve``.

The index is built with the deterministic hashing embedder; every span a tool returns is checked
against the stored document (``Span.verify``: quote == document.text[start:end]).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from ui_server import BLOCKED, start_server

from index.store import IndexDir
from qa.cli import main
from qa.core.types import Span

REPO = Path(__file__).resolve().parents[2]
TOOLS = {"search", "ask", "get_document_span"}
OXYGEN = "Oxygen is a chemical element with atomic number 8. It was discovered by Carl Wilhelm Scheele in 1771.\n"
CHOPIN = (
    "Frédéric Chopin was a Polish composer and pianist. He was born in Żelazowa Wola in 1810. "
    "He moved to Paris in 1831 and died there in 1849.\n"
)


def two_documents_index(folder: Path) -> Path:
    """oxygen.txt and chopin.txt indexed in ``folder`` with the hashing embedder (no model)."""
    docs = folder / "docs"
    docs.mkdir()
    (docs / "oxygen.txt").write_text(OXYGEN, encoding="utf-8")
    (docs / "chopin.txt").write_text(CHOPIN, encoding="utf-8")
    root = docs.parent / "idx"
    assert main(["index", "build", str(docs), "--index", str(root), "--embedder", "hashing:64"]) == 0
    return root


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_documents_index(tmp_path_factory.mktemp("mcp"))


def _environment() -> dict[str, str]:
    """The subprocess's: the repository importable, and any non-loopback connection refused."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests" / "netguard")])
    return env


def over_stdio(index: Path, log: Path, work: Callable[[ClientSession], Awaitable[Any]]) -> Any:
    """Run ``work`` with a session to ``python -m qa.cli mcp --index INDEX`` (its stderr in ``log``)."""
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "qa.cli", "mcp", "--index", str(index)], cwd=REPO, env=_environment()
    )

    async def run() -> Any:
        with open(log, "w", encoding="utf-8") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                return await work(session)

    result = anyio.run(run)
    assert BLOCKED not in log.read_text(encoding="utf-8")
    return result


def verify(stored, span: dict, text_key: str) -> None:
    """The one span check: ``span[text_key]`` is its document's text at its offsets."""
    document = stored.document(span["doc_id"])
    page = span["page"]
    Span(span["doc_id"], span["title"], span["source"], page, span["start"], span["end"], span[text_key], ()).verify(
        document
    )


def test_stdio_lists_the_three_tools_with_their_input_schemas(index: Path, tmp_path: Path) -> None:
    async def work(session: ClientSession):
        return (await session.list_tools()).tools

    tools = {tool.name: tool for tool in over_stdio(index, tmp_path / "stderr.txt", work)}
    assert set(tools) == TOOLS
    search, ask, span = (tools[name].input_schema for name in ("search", "ask", "get_document_span"))
    assert search["required"] == ["query"] and set(search["properties"]) == {"query", "k", "mode"}
    assert search["properties"]["mode"]["enum"] == ["hybrid", "dense", "bm25"]
    assert ask["required"] == ["question"] and set(ask["properties"]) == {"question", "passages"}
    assert span["required"] == ["doc_id", "start", "end"]
    assert set(span["properties"]) == {"doc_id", "start", "end", "context"}
    assert all(tools[name].output_schema["type"] == "object" for name in TOOLS)  # structured JSON output
    assert all(tools[name].description for name in TOOLS)


def test_stdio_search_hits_quote_the_document_at_their_offsets(index: Path, tmp_path: Path) -> None:
    async def work(session: ClientSession):
        return [
            await session.call_tool("search", {"query": "When did Chopin move to Paris?", "k": 2, "mode": mode})
            for mode in ("hybrid", "bm25")
        ]

    stored = IndexDir(index).load()
    for result in over_stdio(index, tmp_path / "stderr.txt", work):
        assert not result.is_error
        found = result.structured_content
        assert set(found) == {"query", "mode", "hits"} and found["query"] == "When did Chopin move to Paris?"
        assert found["hits"] and found["hits"][0]["doc_id"] == "chopin.txt"
        for hit in found["hits"]:  # the hits of `qa search --json`: Hit.to_json
            assert {"doc_id", "start", "end", "text", "score", "scores", "page", "boxes"} <= set(hit)
            verify(stored, hit, "text")


def test_stdio_ask_cites_verified_spans_that_get_document_span_reads_back(index: Path, tmp_path: Path) -> None:
    async def work(session: ClientSession):
        answer = await session.call_tool("ask", {"question": "Who discovered oxygen and when?"})
        citation = answer.structured_content["citations"][0]
        span = await session.call_tool(
            "get_document_span",
            {"doc_id": citation["doc_id"], "start": citation["start"], "end": citation["end"], "context": 20},
        )
        return answer, span

    answer, span = over_stdio(index, tmp_path / "stderr.txt", work)
    stored = IndexDir(index).load()
    assert not answer.is_error
    data = answer.structured_content  # Answer.to_json, as `qa ask --json` prints it
    assert data["question"] == "Who discovered oxygen and when?" and data["mode"] == "extractive"
    assert not data["abstained"] and data["citations"]
    for citation in data["citations"]:
        verify(stored, citation, "quote")
    first = data["citations"][0]
    assert "Carl Wilhelm Scheele" in first["quote"]

    assert not span.is_error
    read = span.structured_content
    assert read["text"] == first["quote"] == OXYGEN[read["start"] : read["end"]]
    assert (read["doc_id"], read["start"], read["end"]) == (first["doc_id"], first["start"], first["end"])
    assert read["title"] == first["title"] and read["source"] == first["source"] and read["pages"] == []
    assert read["before"] == OXYGEN[max(0, first["start"] - 20) : first["start"]]
    assert read["after"] == OXYGEN[first["end"] : first["end"] + 20]


def test_stdio_ask_gives_exactly_what_qa_ask_json_prints(
    index: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    questions = ["When did Chopin move to Paris?", "What is the boiling point of tungsten?"]

    async def work(session: ClientSession):
        return [(await session.call_tool("ask", {"question": q, "passages": 3})).structured_content for q in questions]

    over_mcp = over_stdio(index, tmp_path / "stderr.txt", work)
    capsys.readouterr()
    for question, answer in zip(questions, over_mcp):
        assert main(["ask", question, "--index", str(index), "-k", "3", "--json"]) == 0
        assert answer == json.loads(capsys.readouterr().out)


def test_stdio_bad_spans_are_tool_errors_naming_the_value(index: Path, tmp_path: Path) -> None:
    bad = [
        ({"doc_id": "nowhere.txt", "start": 0, "end": 5}, "'nowhere.txt'"),
        ({"doc_id": "oxygen.txt", "start": 10, "end": 5000}, "[10, 5000)"),
        ({"doc_id": "oxygen.txt", "start": -3, "end": 5}, "[-3, 5)"),
        ({"doc_id": "oxygen.txt", "start": 7, "end": 7}, "[7, 7)"),
    ]

    async def work(session: ClientSession):
        results = [await session.call_tool("get_document_span", arguments) for arguments, _ in bad]
        results.append(await session.call_tool("search", {"query": "oxygen", "mode": "sparse"}))
        results.append(await session.call_tool("search", {"query": "   "}))
        return results

    results = over_stdio(index, tmp_path / "stderr.txt", work)
    for result, (_, named) in zip(results, bad):
        assert result.is_error and result.structured_content is None
        assert named in result.content[0].text, result.content[0].text
    mode, empty = results[len(bad) :]
    assert mode.is_error and "sparse" in mode.content[0].text  # refused by the input schema
    assert empty.is_error and "empty query" in empty.content[0].text  # a domain error (BadQuery)


def test_qa_mcp_without_an_index_fails_with_a_message(tmp_path: Path) -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "qa.cli", "mcp", "--index", str(tmp_path / "none")],
        cwd=REPO,
        env=_environment(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert done.returncode == 1 and done.stdout == ""  # stdout is the protocol's alone
    assert "no index at" in done.stderr


@pytest.mark.slow  # about 6 s: gradio's start-up
def test_qa_serve_answers_over_streamable_http_at_mcp(index: Path, tmp_path: Path) -> None:
    server = start_server(["--index", str(index)], tmp_path / "logs")
    try:

        async def run():
            async with (
                streamable_http_client(server.url + "mcp") as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                tools = {tool.name for tool in (await session.list_tools()).tools}
                return tools, await session.call_tool("ask", {"question": "When did Chopin move to Paris?"})

        began = time.perf_counter()
        tools, result = anyio.run(run)
        seconds = time.perf_counter() - began
    finally:
        server.stop()
    assert BLOCKED not in server.stderr()
    assert tools == TOOLS
    assert not result.is_error
    data = result.structured_content
    assert not data["abstained"] and data["citations"]
    stored = IndexDir(index).load()
    for citation in data["citations"]:
        verify(stored, citation, "quote")
    assert "1831" in data["citations"][0]["quote"]
    assert seconds < 30


def test_a_span_read_back_names_every_page_it_covers() -> None:
    from api.mcp import span_json
    from qa.core.types import Document, PageSpan

    text = "First page text. Second page text."
    document = Document("a.pdf", "A", "a.pdf", text, pages=(PageSpan(1, 0, 17), PageSpan(2, 17, len(text))))
    read = span_json(document, 6, 23, context=3)
    assert read["text"] == text[6:23] and read["page"] == 1 and read["pages"] == [1, 2]
    assert (read["before"], read["after"]) == (text[3:6], text[23:26])
    assert span_json(document, 20, 24)["pages"] == [2]
