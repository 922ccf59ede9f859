"""Tokens, logins and limits of ``qa serve`` (api/auth.py, qa/core/credentials.py): with credentials
the API (/api/v1, /v1, /mcp) needs ``Authorization: Bearer TOKEN`` and the browser chat a login; a
non-loopback --host without credentials refuses to start; secrets never reach the server's output.

The server tests share one ``qa serve`` subprocess on 127.0.0.1, stopped by its PID.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from test_mcp import two_documents_index
from ui_server import BLOCKED, REPO, Server, free_port, start_server

from api.auth import Denied, Gate, Rate
from qa.core.credentials import CredentialStore

PASSWORD = "a long pass phrase"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
}
MCP_HEADERS = {"accept": "application/json, text/event-stream"}


# --- the gate itself, with a clock the test moves ---


def test_rate_parsing() -> None:
    assert Rate.parse("60/min") == Rate(60, 60.0, "60/min")
    assert Rate.parse("5/sec").seconds == 1 and Rate.parse("2/day").seconds == 86400
    for bad in ("60", "0/min", "5/fortnight", "x/min"):
        with pytest.raises(ValueError, match="rate limit"):
            Rate.parse(bad)


def test_the_gate_checks_tokens_counts_requests_and_uploads(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "auth.json")
    token, other = store.create_token("ci"), store.create_token("other")
    now = [1000.0]
    gate = Gate(store, Rate.parse("3/min"), uploads_per_day=4, clock=lambda: now[0])
    for header in (None, "", "Basic abc", "Bearer ", f"Bearer {token}x", token):
        with pytest.raises(Denied) as denied:
            gate.admit(header)
        assert denied.value.status == 401 and denied.value.headers == {"WWW-Authenticate": "Bearer"}
        assert token not in denied.value.message
    assert [gate.admit(f"Bearer {token}").token for _ in range(3)] == ["ci"] * 3
    with pytest.raises(Denied) as limited:
        gate.admit(f"bearer {token}")
    assert limited.value.status == 429 and "3/min" in limited.value.message
    assert limited.value.headers == {"Retry-After": "60"}
    assert gate.admit(f"Bearer {other}").token == "other"  # per token
    now[0] += 60.5
    caller = gate.admit(f"Bearer {token}")
    caller.charge_uploads(3)
    with pytest.raises(Denied, match="4 files a day") as uploads:
        caller.charge_uploads(2)
    assert uploads.value.status == 429
    caller.charge_uploads(1)
    gate.admit(f"Bearer {other}").charge_uploads(4)


# --- a real server ---


@dataclass
class Served:
    server: Server
    token: str
    burst: str  # a second token, for the rate limit


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("auth")
    index = two_documents_index(folder)
    auth_file = folder / "creds" / "auth.json"
    store = CredentialStore(auth_file)
    token, burst = store.create_token("ci"), store.create_token("burst")
    store.add_user("ann", PASSWORD)
    logs = folder / "logs"
    args = ["--index", str(index), "--uploads", str(folder / "uploads"), "--auth-file", str(auth_file)]
    running = start_server([*args, "--rate-limit", "20/min", "--upload-limit", "1"], logs)
    try:
        yield Served(running, token, burst)
    finally:
        running.stop()
    output = running.stderr() + (logs / "stdout.txt").read_text(errors="replace")
    assert BLOCKED not in output
    assert token not in output and burst not in output and PASSWORD not in output  # never logged


def _calls(served: Served) -> list[tuple[str, dict]]:
    ask = {"question": "When did Chopin move to Paris?"}
    chat = {"model": "qa", "messages": [{"role": "user", "content": ask["question"]}]}
    return [("api/v1/ask", {"json": ask}), ("v1/chat/completions", {"json": chat}), ("mcp", {"json": INITIALIZE})]


@pytest.mark.slow  # one `qa serve` start-up for the module
def test_the_api_needs_a_valid_token(served: Served) -> None:
    with httpx.Client(base_url=served.server.url, timeout=60, headers=MCP_HEADERS) as http:
        for path, body in _calls(served):
            for headers in ({}, {"authorization": f"Bearer {served.token[:-2]}xx"}, {"authorization": served.token}):
                refused = http.post(path, headers=headers, **body)
                assert refused.status_code == 401, (path, headers, refused.text)
                assert refused.headers["www-authenticate"] == "Bearer"
                assert "error" in refused.json()
            answered = http.post(path, headers={"authorization": f"Bearer {served.token}"}, **body)
            assert answered.status_code == 200, (path, answered.text)
        assert "1831" in answered.text or "result" in answered.text
        assert http.get("api/v1/openapi.json").status_code == 401
        assert http.get("v1/models").status_code == 401


@pytest.mark.slow
def test_uploads_per_token_are_limited(served: Served) -> None:
    files = [("files", ("a.txt", b"alpha text\n")), ("files", ("b.txt", b"beta text\n"))]
    headers = {"authorization": f"Bearer {served.token}"}
    with httpx.Client(base_url=served.server.url, timeout=60) as http:
        limited = http.post("api/v1/documents", files=files, headers=headers)
    assert limited.status_code == 429 and "1 files a day" in limited.json()["error"]
    assert "--upload-limit" in limited.json()["error"]


@pytest.mark.slow
def test_a_token_past_the_rate_limit_gets_429(served: Served) -> None:
    headers = {"authorization": f"Bearer {served.burst}"}
    with httpx.Client(base_url=served.server.url, timeout=60, headers=headers) as http:
        statuses = [http.get("api/v1/health").status_code for _ in range(21)]
        assert statuses == [200] * 20 + [429]
        again = http.get("api/v1/health")
    assert again.status_code == 429 and int(again.headers["retry-after"]) >= 1
    assert "20/min" in again.json()["error"]


@pytest.mark.slow
def test_the_browser_chat_needs_a_login(served: Served) -> None:
    with httpx.Client(base_url=served.server.url, timeout=60) as browser:
        assert browser.get("config").status_code == 401
        assert browser.get("gradio_api/info").status_code == 401
        assert browser.get("qa/page/nodoc/1.png").status_code == 401  # the PDF page view is ours, not gradio's
        assert browser.post("login", data={"username": "ann", "password": "wrong"}).status_code == 400
        assert browser.get("config").status_code == 401
        logged_in = browser.post("login", data={"username": "ann", "password": PASSWORD})
        assert logged_in.status_code == 200 and logged_in.json() == {"success": True}
        config = browser.get("config")
        assert config.status_code == 200 and "qa-chat" in config.text
        assert browser.get("qa/page/nodoc/1.png").status_code == 404


def test_another_address_without_credentials_refuses_to_start(tmp_path: Path) -> None:
    port = free_port()
    command = ["serve", "--index", str(tmp_path / "idx"), "--host", "0.0.0.0", "--port", str(port)]
    done = subprocess.run(
        [sys.executable, "-m", "qa.cli", *command],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qa: error: --host 0.0.0.0")
    assert "qa auth user add NAME" in lines[0] and "qa auth token create NAME" in lines[0]
    with socket.socket() as sock:  # nothing was left listening
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    assert not (tmp_path / "idx").exists()
