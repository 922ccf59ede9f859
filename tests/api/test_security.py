"""Trying to break the HTTP API (/api/v1), the OpenAI endpoint (/v1), MCP (/mcp) and their
authentication: hostile upload names, traversal document ids, tokens sent the wrong way, oversized
headers, JSON bombs, wrong content types, cross-site requests (with a logged-in browser's cookie),
error bodies, and a document that tries to inject server-sent events.

One ``qa serve`` subprocess (a token and a user) on 127.0.0.1 for the module, stopped by its PID.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from test_mcp import CHOPIN, OXYGEN, verify
from ui_server import BLOCKED, Server, start_server

from index.store import IndexDir
from qa.cli import main
from qa.core.credentials import CredentialStore
from ui.uploads import safe_name

PASSWORD = "a long pass phrase"
INJECTION = '\n\nevent: answer\ndata: {"answer": "injected", "citations": []}\n\n'
ZEBRA = f"The secret launch phrase of the zebra project is purple harbour.{INJECTION}The zebra project began in 1999.\n"
MCP_HEADERS = {"accept": "application/json, text/event-stream"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
}


@dataclass
class Served:
    server: Server
    token: str
    folder: Path
    index: Path
    uploads: Path
    auth_file: Path
    bodies: list[str] = field(default_factory=list)  # every error body seen, checked at the end

    @property
    def bearer(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, timeout=30, **kwargs)

    def seen(self, response: httpx.Response) -> httpx.Response:
        if response.status_code >= 400:
            self.bodies.append(response.text)
        return response


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("security")
    docs = folder / "docs"
    docs.mkdir()
    (docs / "oxygen.txt").write_text(OXYGEN, encoding="utf-8")
    (docs / "chopin.txt").write_text(CHOPIN, encoding="utf-8")
    (docs / "zebra.txt").write_text(ZEBRA, encoding="utf-8")
    index = folder / "idx"
    assert main(["index", "build", str(docs), "--index", str(index), "--embedder", "hashing:64"]) == 0
    auth_file = folder / "creds" / "auth.json"
    store = CredentialStore(auth_file)
    token = store.create_token("ci")
    store.add_user("ann", PASSWORD)
    uploads = folder / "uploads"
    args = ["--index", str(index), "--uploads", str(uploads), "--auth-file", str(auth_file)]
    running = start_server([*args, "--rate-limit", "100000/min", "--upload-limit", "100000"], folder / "logs")
    result = Served(running, token, folder, index, uploads, auth_file)
    try:
        yield result
    finally:
        running.stop()
    output = running.stderr() + (folder / "logs" / "stdout.txt").read_text(errors="replace")
    assert BLOCKED not in output and token not in output and PASSWORD not in output
    for body in result.bodies:  # no stack trace, no token, in any error body of the module
        assert "Traceback" not in body and 'File "' not in body and token not in body, body[:500]


def _files_outside(served: Served) -> set[Path]:
    """Every file of the test's folder but the index's, the logs' and the uploads folder's."""
    skip = (served.index, served.folder / "logs", served.uploads)
    return {p for p in served.folder.rglob("*") if p.is_file() and not any(p.is_relative_to(s) for s in skip)}


def _multipart(names: list[str]) -> tuple[bytes, str]:
    """A multipart body with the file names written raw (httpx would escape NUL and quotes)."""
    boundary = uuid.uuid4().hex
    parts = []
    for i, name in enumerate(names):
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
        body = f"Upload {i} says the walrus number is {1000 + i}.\n"
        parts.append(head.encode("utf-8") + b"Content-Type: text/plain\r\n\r\n" + body.encode() + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _raw(served: Served, request: bytes, timeout: float = 15) -> bytes:
    """``request`` sent as is over a socket; what the server answers (empty when it just closes)."""
    port = httpx.URL(served.server.url).port
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    return received


def _healthy(served: Served) -> None:
    with served.client(headers=served.bearer) as http:
        assert http.get("api/v1/health").json()["status"] == "ok"


# --- upload names ---


def test_safe_name_stays_under_the_file_system_limit_in_bytes() -> None:
    """A name of 120 three-byte characters is 360 bytes: more than a file system takes (255)."""
    for name in ("文" * 300 + ".txt", "é" * 250 + ".md", "🙂a" * 200 + ".txt"):
        stored = safe_name(name)
        assert len(stored.encode("utf-8")) <= 255 and stored.endswith((".txt", ".md")), stored
    assert safe_name("a" * 300 + ".txt") == "a" * 116 + ".txt"


@pytest.mark.slow  # one `qa serve` start-up for the module
def test_hostile_upload_names_stay_in_the_uploads_folder(served: Served) -> None:
    before = _files_outside(served)
    absolute = f"/tmp/qa-security-{uuid.uuid4().hex}.txt"
    names = [
        "../../x.txt",
        absolute,
        "..\\..\\win.txt",
        "nul\x00byte.txt",
        "a" * 1000 + ".txt",
        "文" * 300 + ".txt",
        "<script>alert(1)</script>.txt",
        "..",
        "../.hidden.txt",
    ]
    body, content_type = _multipart(names)
    with served.client(headers=served.bearer | {"content-type": content_type}) as http:
        uploaded = served.seen(http.post("api/v1/documents", content=body))
    assert uploaded.status_code == 200, uploaded.text[:2000]
    indexed = uploaded.json()["indexed"]
    rejected = {r["name"] for r in uploaded.json()["rejected"]}
    assert rejected == {".."}
    assert {"uploads/x.txt", f"uploads/{Path(absolute).name}", "uploads/win.txt"} <= set(indexed)
    assert "uploads/nul_byte.txt" in indexed and "uploads/script_.txt" in indexed  # "</": a folder
    assert "uploads/hidden.txt" in indexed and len(indexed) == 8  # no leading dot: not a hidden file
    for doc_id in indexed:
        name = doc_id.removeprefix("uploads/")
        assert "/" not in name and "\x00" not in name and "<" not in name and ">" not in name
        assert len(name) <= 120 and len(name.encode("utf-8")) <= 255
        assert (served.uploads / "uploads" / name).is_file()
    assert _files_outside(served) == before  # nothing written anywhere else
    assert not Path(absolute).exists() and not (served.folder.parent / "x.txt").exists()
    assert {p.name for p in (served.uploads / "uploads").iterdir()} == {i.removeprefix("uploads/") for i in indexed}
    body, content_type = _multipart(["b" * 20_000 + ".txt"])  # a part header too long for the parser
    with served.client(headers=served.bearer | {"content-type": content_type}) as http:
        refused = served.seen(http.post("api/v1/documents", content=body))
    assert refused.status_code == 400 and "b" * 100 not in refused.text
    with served.client(headers=served.bearer) as http:
        for doc_id in indexed:  # and they go again
            assert http.delete(f"api/v1/documents/{doc_id}").status_code == 200


# --- traversal document ids ---


@pytest.mark.slow
def test_traversal_document_ids_touch_nothing(served: Served) -> None:
    sentinel = served.folder / "keep.txt"
    sentinel.write_text("keep me\n")
    with served.client(headers=served.bearer) as http:
        listed = http.get("api/v1/documents").json()
        for doc_id in (
            "..%2F..%2Fetc%2Fpasswd",
            "uploads%2F..%2F..%2Fkeep.txt",
            "uploads/..%2F..%2Fkeep.txt",
            "%2E%2E%2F%2E%2E%2Fkeep.txt",
            "uploads%5C..%5C..%5Ckeep.txt",
            "uploads/%00.txt",
            "oxygen.txt%00",
        ):
            refused = served.seen(http.delete(f"api/v1/documents/{doc_id}"))
            assert 400 <= refused.status_code < 500, (doc_id, refused.status_code, refused.text)
        assert http.get("api/v1/documents").json() == listed
    for path in ("/api/v1/documents/uploads/../../keep.txt", "/api/v1/documents/../../../keep.txt"):
        port = httpx.URL(served.server.url).port
        request = f"DELETE {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {served.token}\r\n"
        answer = _raw(served, request.encode() + b"Connection: close\r\n\r\n")
        assert answer.split(b" ", 2)[1].startswith(b"4"), answer[:200]
    with served.client() as browser:
        assert browser.post("login", data={"username": "ann", "password": PASSWORD}).status_code == 200
        for key in ("..%2F..%2Fetc%2Fpasswd", "..%2Fidx", "%2E%2E"):
            page = served.seen(browser.get(f"qa/page/{key}/1.png"))
            assert page.status_code == 404 and b"\x89PNG" not in page.content
        assert served.seen(browser.get("qa/page/x/..%2F1.png")).status_code == 404
    assert sentinel.read_text() == "keep me\n"
    assert (served.folder / "docs" / "oxygen.txt").exists()


# --- tokens ---


@pytest.mark.slow
def test_tokens_only_count_in_the_authorization_header(served: Served) -> None:
    ask = {"question": "When did Chopin move to Paris?"}
    chat = {"model": "qa", "messages": [{"role": "user", "content": ask["question"]}]}
    calls = [("api/v1/ask", ask), ("v1/chat/completions", chat), ("mcp", INITIALIZE)]
    t = served.token
    refused_headers = [
        {},
        {"authorization": ""},
        {"authorization": "Bearer"},
        {"authorization": t},  # no scheme
        {"authorization": f"Token {t}"},
        {"authorization": f"Basic {t}"},
        {"authorization": f"Bearer {t} extra"},
        {"authorization": f"Bearer {t},"},
        {"authorization": f"Bearer\t{t}"},  # RFC 7235: one or more spaces, not a tab
        {"authorization": f"Bearer {t[:-1]}"},
        {"authorization": f"Bearer {t}{t}"},
        {"cookie": f"token={t}; access_token={t}"},
        {"x-api-key": t},
    ]
    # RFC 6750 / RFC 7235: the scheme is case-insensitive, and one or more spaces may follow it;
    # trailing spaces are not part of a header's value (RFC 9110 5.5), so they change nothing.
    admitted_headers = [f"Bearer {t}", f"bearer {t}", f"BEARER {t}", f"bEaReR {t}", f"Bearer  {t}"]
    with served.client(headers=MCP_HEADERS) as http:
        for path, body in calls:
            for query in ("token", "access_token", "api_key"):
                refused = served.seen(http.post(f"{path}?{query}={t}", json=body))
                assert refused.status_code == 401, (path, query)
            for headers in refused_headers:
                refused = served.seen(http.post(path, json=body, headers=headers))
                assert refused.status_code == 401, (path, headers, refused.text)
                assert refused.headers["www-authenticate"] == "Bearer" and "error" in refused.json()
            for header in admitted_headers:
                admitted = http.post(path, json=body, headers={"authorization": header})
                assert admitted.status_code == 200, (path, header, admitted.text)
    for path, body in calls:  # two Authorization headers: the first one counts, on every route
        for first, second, status in ((f"Bearer {t}", "Bearer wrong", 200), ("Bearer wrong", f"Bearer {t}", 401)):
            headers = [("authorization", first), ("authorization", second), *MCP_HEADERS.items()]
            with served.client() as http:
                answered = served.seen(http.post(path, json=body, headers=headers))
            assert answered.status_code == status, (path, first, answered.status_code)
    port = httpx.URL(served.server.url).port
    for value, status in (
        ("Bearer ", b"401"),
        ("Bearer  \t ", b"401"),
        (f"Bearer {t}   ", b"200"),
        (f"Bearer {t}\t", b"200"),
    ):
        request = f"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {value}\r\n"
        answer = _raw(served, request.encode() + b"Connection: close\r\n\r\n")
        assert answer.split(b" ", 2)[1] == status, (value, answer[:300])
        assert t.encode() not in answer


@pytest.mark.slow
def test_a_revoked_token_stops_at_once_and_another_entrys_token_is_its_own(served: Served) -> None:
    store = CredentialStore(served.auth_file)  # as `qa auth token revoke` does, from outside the server
    temporary = store.create_token("temporary")
    with served.client() as http:
        assert http.get("api/v1/health", headers={"authorization": f"Bearer {temporary}"}).status_code == 200
        store.revoke_token("temporary")
        for path in ("api/v1/health", "v1/models"):
            refused = served.seen(http.get(path, headers={"authorization": f"Bearer {temporary}"}))
            assert refused.status_code == 401 and "revoked" in refused.text
        mcp = served.seen(
            http.post("mcp", json=INITIALIZE, headers=MCP_HEADERS | {"authorization": f"Bearer {temporary}"})
        )
        assert mcp.status_code == 401
        assert http.get("api/v1/health", headers=served.bearer).status_code == 200  # the others still work


# --- hostile requests ---


@pytest.mark.slow
def test_oversized_headers_are_refused_and_the_server_keeps_answering(served: Served) -> None:
    port = httpx.URL(served.server.url).port
    for extra in (f"X-Big: {'a' * 200_000}\r\n", "".join(f"X-{i}: {'b' * 100}\r\n" for i in range(2000))):
        request = f"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}Connection: close\r\n\r\n"
        answer = _raw(served, request.encode())
        assert answer == b"" or answer.split(b" ", 2)[1].startswith(b"4"), answer[:200]
    with served.client(headers=served.bearer) as http:
        huge = served.seen(http.get("api/v1/health", headers={"authorization": f"Bearer {'x' * 12_000}"}))
        assert 400 <= huge.status_code < 500
    _healthy(served)


@pytest.mark.slow
def test_json_bombs_get_a_4xx_and_the_server_keeps_answering(served: Served) -> None:
    deep = "[" * 30_000 + "]" * 30_000
    bombs = [
        ("api/v1/ask", deep),
        ("api/v1/ask", '{"question": "x", "passages": ' + deep[:60_000] + "}"),
        ("api/v1/search", '{"query": ' + '{"a": ' * 8000 + "1" + "}" * 8000 + "}"),
        ("api/v1/ask", json.dumps({"question": "x"} | {f"k{i}": i for i in range(6000)})),
        ("api/v1/ask", '{"question": "x", "passages": 1' + "0" * 20_000 + "}"),
        ("api/v1/ask", '{"question": "x", "passages": NaN}'),
        ("api/v1/ask", '{"question": "x", "question": ' * 3000 + '"y"' + "}" * 3000),
        ("v1/chat/completions", '{"messages": ' + deep[:60_000] + "}"),
        ("v1/chat/completions", json.dumps({"messages": [{"role": "user", "content": [[[]]] * 20_000}]})),
        ("api/v1/ask", "\ufeff" + json.dumps({"question": "x"})[:-1]),
    ]
    with served.client(headers=served.bearer | {"content-type": "application/json"}) as http:
        for path, body in bombs:
            assert len(body.encode()) <= 256 * 1024
            refused = served.seen(http.post(path, content=body.encode()))
            assert 400 <= refused.status_code < 500, (path, body[:80], refused.status_code, refused.text[:300])
            assert refused.json()["error"]
        many = {"model": "qa", "messages": [{"role": "user", "content": "When did Chopin move to Paris?"}] * 2000}
        many_keys = {f"k{i}": i for i in range(8000)} | {"messages": many["messages"][:1]}
        for body in (many, many_keys):  # valid requests, however large: answered (earlier turns are capped)
            assert http.post("v1/chat/completions", content=json.dumps(body).encode()).status_code == 200
    _healthy(served)


@pytest.mark.slow
def test_wrong_content_types_get_4xx_not_500(served: Served) -> None:
    ask = json.dumps({"question": "When did Chopin move to Paris?"}).encode()
    with served.client(headers=served.bearer | MCP_HEADERS) as http:
        for path in ("api/v1/ask", "api/v1/search", "v1/chat/completions"):
            for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml", "image/png"):
                wrong = served.seen(http.post(path, content=ask, headers={"content-type": content_type}))
                assert wrong.status_code in (400, 415, 422), (path, content_type, wrong.status_code, wrong.text)
            form = served.seen(http.post(path, files=[("files", ("a.txt", b"alpha\n"))]))
            assert form.status_code in (400, 415, 422), (path, form.text)
        for content_type in ("application/json", "text/plain", "multipart/form-data", "multipart/form-data; boundary="):
            wrong = served.seen(
                http.post("api/v1/documents", content=b'{"a": 1}', headers={"content-type": content_type})
            )
            assert wrong.status_code in (400, 415, 422), (content_type, wrong.status_code, wrong.text)
        garbled = served.seen(
            http.post(
                "api/v1/documents",
                content=b"--x\r\nnonsense",
                headers={"content-type": "multipart/form-data; boundary=x"},
            )
        )
        assert garbled.status_code in (400, 415, 422), garbled.text
        mcp = served.seen(
            http.post("mcp", content=json.dumps(INITIALIZE).encode(), headers={"content-type": "text/plain"})
        )
        assert mcp.status_code in (400, 406, 415, 422), mcp.text
    _healthy(served)


# --- cross-site browsers ---


@pytest.mark.slow
def test_a_logged_in_browser_cookie_is_not_an_api_token(served: Served) -> None:
    with served.client(headers=MCP_HEADERS) as browser:
        assert browser.post("login", data={"username": "ann", "password": PASSWORD}).status_code == 200
        assert browser.get("config").status_code == 200  # logged in: gradio's cookie works for the chat
        assert browser.cookies  # ... and is sent with every request below
        chat = {"messages": [{"role": "user", "content": "When did Chopin move to Paris?"}]}
        for method, path, kwargs in (
            ("POST", "api/v1/ask", {"json": {"question": "When did Chopin move to Paris?"}}),
            ("POST", "api/v1/search", {"json": {"query": "Chopin"}}),
            ("POST", "api/v1/documents", {"files": [("files", ("a.txt", b"alpha\n"))]}),
            ("DELETE", "api/v1/documents/uploads/a.txt", {}),
            ("GET", "api/v1/documents", {}),
            ("GET", "api/v1/openapi.json", {}),
            ("POST", "v1/chat/completions", {"json": chat}),
            ("GET", "v1/models", {}),
            ("POST", "mcp", {"json": INITIALIZE}),
        ):
            for origin in ({}, {"origin": served.server.url.rstrip("/")}, {"origin": "http://evil.example"}):
                refused = served.seen(browser.request(method, path, headers=origin, **kwargs))
                assert refused.status_code in (401, 403), (path, origin, refused.status_code)


@pytest.mark.slow
def test_cross_site_requests_are_refused_even_with_the_token(served: Served) -> None:
    chat = {"messages": [{"role": "user", "content": "When did Chopin move to Paris?"}]}
    own = served.server.url.rstrip("/")
    with served.client(headers=served.bearer | MCP_HEADERS) as http:
        for origin in (
            "http://evil.example",
            "null",
            own.replace("127.0.0.1", "localhost"),
            own.replace("127.0.0.1", "127.0.0.1.nip.example"),
        ):
            for path, kwargs in (
                ("api/v1/ask", {"json": {"question": "When did Chopin move to Paris?"}}),
                ("api/v1/documents", {"files": [("files", ("a.txt", b"alpha\n"))]}),
                ("v1/chat/completions", {"json": chat}),
                ("mcp", {"json": INITIALIZE}),
            ):
                refused = served.seen(http.post(path, headers={"origin": origin}, **kwargs))
                if path == "mcp" and "localhost" in origin:  # the MCP SDK lets this computer's pages in
                    continue
                assert refused.status_code in (403, 421), (path, origin, refused.status_code, refused.text)
                if "localhost" not in origin:  # gradio lets its own computer's pages read answers
                    assert refused.headers.get("access-control-allow-origin") is None, (path, origin)
            preflight = http.options(
                "api/v1/ask",
                headers={
                    "origin": origin,
                    "access-control-request-method": "POST",
                    "access-control-request-headers": "authorization, content-type",
                },
            )
            if "localhost" not in origin:
                assert preflight.headers.get("access-control-allow-origin") is None, preflight.headers
        rebound = served.seen(http.post("api/v1/ask", json={"question": "x"}, headers={"host": "evil.example"}))
        assert rebound.status_code == 403
        same = http.post("api/v1/ask", json={"question": "When did Chopin move to Paris?"}, headers={"origin": own})
        assert same.status_code == 200
    with served.client() as http:
        assert not (served.uploads / "uploads" / "a.txt").exists()


# --- what comes back ---


@pytest.mark.slow
def test_error_bodies_carry_no_stack_trace_nor_token(served: Served) -> None:
    with served.client(headers=served.bearer) as http:
        for response in (
            http.post("api/v1/ask", json={"question": served.token * 0 + " "}),
            http.post("api/v1/search", json={"query": "x", "k": 10**6}),
            http.post("api/v1/ask", json={"question": "x", "unknown": served.token[:4]}),
            http.delete("api/v1/documents/nowhere.txt"),
            http.delete("api/v1/documents/oxygen.txt"),
            http.post("v1/chat/completions", json={"messages": [{"role": "assistant", "content": "hi"}]}),
            http.post("v1/chat/completions", json={"messages": []}),
            http.get("api/v1/nothing-here"),
            http.get("api/v1/health", headers={"authorization": f"Bearer {served.token}x"}),
        ):
            served.seen(response)
            assert 400 <= response.status_code < 500, (response.url, response.status_code)
            assert served.token not in response.text and "Traceback" not in response.text
    assert len(served.bodies) >= 9  # the fixture checks them all again at the end


@pytest.mark.slow
def test_document_text_cannot_inject_server_sent_events(served: Served) -> None:
    question = {"question": "What is the secret launch phrase of the zebra project?", "passages": 3}
    with served.client(headers=served.bearer) as http:
        with http.stream("POST", "api/v1/ask", json=question | {"stream": True}) as response:
            raw = response.read().decode()
        chat = {"stream": True, "messages": [{"role": "user", "content": question["question"]}]}
        with http.stream("POST", "v1/chat/completions", json=chat) as response:
            chunks = response.read().decode()
    events = [block for block in raw.split("\n\n") if block]
    kinds = [line for block in events for line in block.split("\n") if line.startswith("event:")]
    assert kinds == ["event: answer"]  # extractive: one answer event, and nothing from the document
    assert all(len(block.split("\n")) == 2 for block in events)  # "event: ..." and one "data: ..." line
    answer = json.loads(events[0].split("\n")[1].removeprefix("data: "))
    assert answer["answer"] != "injected"
    zebra = [hit for hit in answer["hits"] if hit["doc_id"] == "zebra.txt"]
    assert zebra and INJECTION in zebra[0]["text"]  # the document's text was sent, escaped
    stored = IndexDir(served.index).load()
    for hit in answer["hits"]:
        verify(stored, hit, "text")
    for citation in answer["citations"]:
        verify(stored, citation, "quote")
    blocks = [block for block in chunks.split("\n\n") if block]
    assert all(block.startswith("data: ") and "\n" not in block for block in blocks)
    assert blocks[-1] == "data: [DONE]" and "event:" not in "".join(b[:7] for b in blocks)


# --- gradio's own routes ---


@pytest.mark.slow
def test_gradios_file_routes_need_a_login(served: Served) -> None:
    """gradio's file, upload, queue, info and config routes: refused without a login, with a wrong
    password, a forged login cookie or an API token; answered with the login cookie."""
    secret = b"The walrus code of the security test is 4417 amber.\n"
    with served.client() as browser:
        assert browser.post("login", data={"username": "ann", "password": PASSWORD}).status_code == 200
        cookie_names = list(browser.cookies.keys())
        assert cookie_names
        uploaded = browser.post("gradio_api/upload", files=[("files", ("walrus.txt", secret))])
        assert uploaded.status_code == 200, uploaded.text
        path = uploaded.json()[0]
        fetched = browser.get(f"gradio_api/file={path}")
        assert fetched.status_code == 200 and fetched.content == secret  # the login's own upload
        assert browser.get("gradio_api/info").status_code == 200 and browser.get("config").status_code == 200
    served.uploads.joinpath("uploads").mkdir(parents=True, exist_ok=True)
    in_uploads = served.uploads / "uploads" / "walrus-kept.txt"
    in_uploads.write_bytes(secret)
    join = {"data": ["When did Chopin move to Paris?", 3, "extractive", None], "fn_index": 0, "session_hash": "x1"}
    calls = [
        ("GET", f"gradio_api/file={path}", {}),
        ("GET", f"gradio_api/file={in_uploads}", {}),
        ("POST", "gradio_api/upload", {"files": [("files", ("a.txt", b"alpha\n"))]}),
        ("POST", "gradio_api/queue/join", {"json": join}),
        ("GET", "gradio_api/queue/data?session_hash=x1", {}),
        ("GET", "gradio_api/info", {}),
        ("GET", "config", {}),
    ]
    wrong_logins = [
        {},
        {"cookies": {name: "forged-" + uuid.uuid4().hex for name in cookie_names}},
        {"headers": served.bearer},  # an API token is no browser login
    ]
    with served.client() as stranger:
        assert stranger.post("login", data={"username": "ann", "password": "wrong"}).status_code == 400
        assert not stranger.cookies
        for method, route, kwargs in calls:
            refused = served.seen(stranger.request(method, route, **kwargs))
            assert refused.status_code in (401, 403), (route, refused.status_code, refused.text[:300])
            assert b"walrus" not in refused.content and b"named_endpoints" not in refused.content
    for wrong in wrong_logins:
        with served.client(**wrong) as stranger:
            for method, route, kwargs in calls:
                refused = served.seen(stranger.request(method, route, **kwargs))
                assert refused.status_code in (401, 403), (route, wrong, refused.status_code, refused.text[:300])
                assert b"walrus" not in refused.content and b"named_endpoints" not in refused.content
    with served.client() as browser:  # and with a login, the file there is still not handed out
        assert browser.post("login", data={"username": "ann", "password": PASSWORD}).status_code == 200
        assert browser.get(f"gradio_api/file={in_uploads}").status_code in (403, 404)
    in_uploads.unlink()
