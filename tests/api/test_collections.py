"""Collections over a real ``qa serve``: two tokens (and two browser users) granted ``red`` and
``blue`` never see each other's documents through /api/v1, /v1/chat/completions, MCP at /mcp or
the browser chat, and an upload by red stays red's.

One ``qa serve`` subprocess on 127.0.0.1 for the module, stopped by its PID.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import anyio
import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from test_mcp import CHOPIN, OXYGEN
from ui_server import BLOCKED, Server, collections_index, start_server

from qa.core.credentials import CredentialStore

PASSWORD = "a long pass phrase"
QUOKKA = "The quokka of the red team sleeps in the marmalade cellar every winter.\n"
OWN = {"red": "oxygen.txt", "blue": "chopin.txt"}
QUESTIONS = {"red": "Who discovered oxygen?", "blue": "When did Chopin move to Paris?"}


@dataclass
class Served:
    server: Server
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("collections")
    index = collections_index(folder, {"red": ("oxygen.txt", OXYGEN), "blue": ("chopin.txt", CHOPIN)})
    auth_file = folder / "creds" / "auth.json"
    store = CredentialStore(auth_file)
    tokens = {name: store.create_token(name, [name]) for name in ("red", "blue")}
    for name in ("red", "blue"):
        store.add_user(name, PASSWORD, [name])
    args = ["--index", str(index), "--uploads", str(folder / "uploads"), "--auth-file", str(auth_file)]
    running = start_server(args, folder / "logs")
    try:
        yield Served(running, tokens)
    finally:
        running.stop()
    assert BLOCKED not in running.stderr()


def _http(served: Served, who: str) -> httpx.Client:
    headers = {"authorization": f"Bearer {served.tokens[who]}"}
    return httpx.Client(base_url=served.server.url, timeout=60, headers=headers)


def _doc_ids(data: object) -> set[str]:
    """Every ``doc_id`` anywhere in a JSON value."""
    found: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "doc_id" and isinstance(value, str):
                found.add(value)
            found |= _doc_ids(value)
    elif isinstance(data, list):
        for value in data:
            found |= _doc_ids(value)
    return found


@pytest.mark.slow  # one `qa serve` start-up for the module
def test_each_token_sees_only_its_collection_over_the_api(served: Served) -> None:
    for who, other in (("red", "blue"), ("blue", "red")):
        with _http(served, who) as http:
            listed = http.get("api/v1/documents").json()["documents"]
            assert [(d["doc_id"], d["collection"]) for d in listed] == [(OWN[who], who)]
            assert http.get("api/v1/health").json()["documents"] == 1  # its own collection's count only
            for question in QUESTIONS.values():  # its own question and the other's
                search = http.post("api/v1/search", json={"query": question, "k": 5})
                assert search.status_code == 200 and _doc_ids(search.json()) <= {OWN[who]}
                asked = http.post("api/v1/ask", json={"question": question})
                assert asked.status_code == 200 and _doc_ids(asked.json()) <= {OWN[who]}
                chat = {"model": "qa", "messages": [{"role": "user", "content": question}]}
                completion = http.post("v1/chat/completions", json=chat)
                assert completion.status_code == 200 and OWN[other] not in completion.text
            own = http.post("api/v1/search", json={"query": QUESTIONS[who], "k": 5}).json()["hits"]
            assert own and own[0]["doc_id"] == OWN[who]
            assert http.delete(f"api/v1/documents/{OWN[other]}").status_code == 404  # not "forbidden"


@pytest.mark.slow
def test_each_token_sees_only_its_collection_over_mcp(served: Served) -> None:
    async def calls(who: str) -> list:
        headers = {"authorization": f"Bearer {served.tokens[who]}"}
        async with (
            httpx.AsyncClient(headers=headers, timeout=60) as client,
            streamable_http_client(served.server.url + "mcp", http_client=client) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            results = [await session.call_tool("search", {"query": q, "k": 5}) for q in QUESTIONS.values()]
            results.append(await session.call_tool("ask", {"question": QUESTIONS[who]}))
            for doc_id in OWN.values():
                results.append(await session.call_tool("get_document_span", {"doc_id": doc_id, "start": 0, "end": 6}))
            return results

    for who, other in (("red", "blue"), ("blue", "red")):
        *found, asked, red_span, blue_span = anyio.run(calls, who)
        for result in (*found, asked):
            assert not result.is_error and _doc_ids(result.structured_content) <= {OWN[who]}
        assert found[list(QUESTIONS).index(who)].structured_content["hits"][0]["doc_id"] == OWN[who]
        own, foreign = (red_span, blue_span) if who == "red" else (blue_span, red_span)
        assert not own.is_error and own.structured_content["doc_id"] == OWN[who]
        assert foreign.is_error and f"no document {OWN[other]!r}" in foreign.content[0].text


@pytest.mark.slow
def test_an_upload_by_red_is_invisible_to_blue(served: Served) -> None:
    with _http(served, "red") as red, _http(served, "blue") as blue:
        refused = red.post(
            "api/v1/documents", files=[("files", ("q.txt", QUOKKA.encode()))], data={"collection": "blue"}
        )
        assert refused.status_code == 400 and "'blue' is not granted" in refused.json()["error"]
        uploaded = red.post("api/v1/documents", files=[("files", ("quokka.txt", QUOKKA.encode()))])
        assert uploaded.status_code == 200, uploaded.text
        (doc_id,) = uploaded.json()["indexed"]
        query = {"query": "Where does the quokka sleep in winter?", "k": 5}
        assert red.post("api/v1/search", json=query).json()["hits"][0]["doc_id"] == doc_id
        assert doc_id not in blue.post("api/v1/search", json=query).text
        assert doc_id not in blue.get("api/v1/documents").text
        assert doc_id in red.get("api/v1/documents").text
        assert blue.delete(f"api/v1/documents/{doc_id}").status_code == 404
        assert red.delete(f"api/v1/documents/{doc_id}").status_code == 200


@pytest.mark.slow
def test_each_browser_user_sees_only_their_collection(served: Served) -> None:
    from gradio_client import Client

    for who, other in (("red", "blue"), ("blue", "red")):
        client = Client(
            served.server.url, auth=(who, PASSWORD), verbose=False, analytics_enabled=False, download_files=False
        )
        for question in QUESTIONS.values():
            outputs = client.predict(question, 3, "extractive", api_name="/ask")
            answer = outputs[-1]
            shown = json.dumps(answer) + json.dumps(outputs[:-1], default=str)
            assert OWN[other] not in shown
            if question == QUESTIONS[who]:
                assert _doc_ids(answer) and _doc_ids(answer) <= {OWN[who]}
