"""Test doubles for language models: a deterministic in-process fake and a stub OpenAI-compatible server.

The stub server runs in a thread of the test process on 127.0.0.1 and a free port; its
behaviour (stream an answer, answer garbage, stall, fail) is chosen per test.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from qa.core.answers import Generation, TokenSink
from qa.core.errors import LLMError
from qa.llm.backend import ChatMessage, Completion


def require_llm_extra(*modules: str) -> None:
    """Skip when the ``llm`` extra's ``modules`` are missing, unless ``QA_REQUIRE_LLM=1`` (set by
    ``.ci/run``): then fail, so CI can never pass by skipping the real-model tests."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        reason = f"{', '.join(missing)} not installed (the llm extra: pip install '.[llm]')"
        if os.environ.get("QA_REQUIRE_LLM") == "1":
            pytest.fail(f"QA_REQUIRE_LLM=1 but {reason}")
        pytest.skip(reason)


def passages_of(messages: list[ChatMessage]) -> dict[int, str]:
    """Passage number -> text, as numbered in the prompt."""
    user = messages[-1].content
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\[(\d+)\](?: \([^)\n]*\))? (.*)$", user, re.M)}


def passage_with(messages: list[ChatMessage], needle: str) -> int:
    """The number the prompt gave the passage holding ``needle``."""
    return next(n for n, text in passages_of(messages).items() if needle in text)


@dataclass
class FakeLLM:
    """Answers with ``reply(messages)``, streamed word by word; records every prompt it gets."""

    reply: Callable[[list[ChatMessage]], str]
    prompts: list[list[ChatMessage]] = field(default_factory=list)
    fail: str | None = None

    def describe(self) -> str:
        return "fake model"

    def generate(self, messages: list[ChatMessage], on_token: TokenSink | None = None) -> Completion:
        self.prompts.append(messages)
        if self.fail is not None:
            raise LLMError(self.fail)
        text = self.reply(messages)
        pieces = re.findall(r"\S+\s*|\s+", text)
        for piece in pieces:
            if on_token is not None:
                on_token(piece)
        return Completion(text, Generation("fake", 100, len(pieces), 0.01, 0.02))


def sse(pieces: list[str], usage: dict | None = None) -> bytes:
    """An OpenAI chat-completion event stream of ``pieces``."""
    events = [{"choices": [{"index": 0, "delta": {"role": "assistant"}}]}]
    events += [{"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
    events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if usage is not None:
        events.append({"choices": [], "usage": usage})
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return body.encode()


@dataclass
class StubBehaviour:
    """What the stub server does: ``mode`` is "stream", "json", "garbage", "stall", "http500" or "half"."""

    mode: str = "stream"
    reply: Callable[[list[ChatMessage]], str] = lambda messages: "I do not know."
    stall_seconds: float = 5.0
    piece_delay: float = 0.0  # "stream": seconds between streamed pieces (0: the whole stream at once)
    requests: list[dict] = field(default_factory=list)
    headers: list[dict] = field(default_factory=list)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # a client that timed out and hung up is what some tests do on purpose


class StubOpenAIServer:
    """A tiny OpenAI-compatible ``/v1/chat/completions`` (and ``/v1/models``) in a thread."""

    def __init__(self, behaviour: StubBehaviour | None = None) -> None:
        self.behaviour = behaviour or StubBehaviour()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                body = json.dumps({"object": "list", "data": [{"id": "stub-model", "object": "model"}]}).encode()
                self._send(200, "application/json", body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                request = json.loads(self.rfile.read(length))
                b = stub.behaviour
                b.requests.append(request)
                b.headers.append(dict(self.headers))
                messages = [ChatMessage(m["role"], m["content"]) for m in request["messages"]]
                if b.mode == "stall":
                    time.sleep(b.stall_seconds)
                    self._send(200, "text/event-stream", sse(["late"]))
                elif b.mode == "http500":
                    self._send(500, "application/json", b'{"error": {"message": "model exploded"}}')
                elif b.mode == "garbage":
                    self._send(200, "text/event-stream", b"data: {not json at all\n\n")
                elif b.mode == "json":
                    reply = {"choices": [{"message": {"role": "assistant", "content": b.reply(messages)}}]}
                    self._send(200, "application/json", json.dumps(reply).encode())
                elif b.mode == "half":
                    self._send(200, "text/event-stream", b"")
                else:
                    words = re.findall(r"\S+\s*", b.reply(messages))
                    body = sse(words, {"prompt_tokens": 321, "completion_tokens": 7})
                    if b.piece_delay:
                        self._trickle(body, b.piece_delay)
                    else:
                        self._send(200, "text/event-stream", body)

            def _trickle(self, body: bytes, delay: float) -> None:
                """One event at a time, as a model writes them (no length: the connection ends the body)."""
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for event in body.split(b"\n\n"):
                    if event:
                        self.wfile.write(event + b"\n\n")
                        self.wfile.flush()
                        time.sleep(delay)
                self.close_connection = True

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StubOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    """A loopback port nothing listens on now (for test servers)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
