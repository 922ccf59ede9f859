"""The OpenAI-compatible HTTP backend (qa/llm/backend.py says what a backend is).

Every expected failure is raised as ``LLMError`` naming the URL, model and timeout. It uses the
standard library only.

The HTTP client speaks ``POST {base}/chat/completions`` with ``"stream": true`` and reads the
server-sent events (``data: {json}`` lines, ``data: [DONE]``), as llama.cpp's server, Ollama and
vLLM send them. A server that ignores ``stream`` and answers with one JSON body is accepted too.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

from qa.core.answers import Generation, TokenSink
from qa.core.errors import LLMError
from qa.llm.backend import DEFAULT_MAX_TOKENS, ChatMessage, Completion

DEFAULT_API_KEY_ENV = "QA_LLM_API_KEY"
DEFAULT_TIMEOUT = 120.0


def api_url(base_url: str) -> str:
    """``.../chat/completions`` under ``base_url``; a bare host gets the usual ``/v1`` prefix."""
    parsed = urllib.parse.urlparse(base_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise LLMError(f"LLM URL must be http(s)://host[:port][/path], got {base_url!r}")
    path = parsed.path.rstrip("/")
    if not path:
        path = "/v1"
    return urllib.parse.urlunparse(parsed._replace(path=path + "/chat/completions"))


class OpenAIBackend:
    """A model behind an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    ``timeout`` bounds each wait on the server: connecting, the first byte of the reply (prompt
    processing included) and every gap between streamed pieces. The API key, if any, is read
    from the environment variable ``api_key_env`` at each call and sent as a bearer token; it
    is never written anywhere.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = DEFAULT_API_KEY_ENV,
        timeout: float = DEFAULT_TIMEOUT,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        temperature: float = 0.0,
    ) -> None:
        if timeout <= 0:
            raise LLMError(f"LLM timeout must be positive, got {timeout}")
        self.url = api_url(base_url)
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.temperature = temperature

    def describe(self) -> str:
        return f"model {self.model!r} at {self.url}"

    def _fail(self, what: str) -> LLMError:
        return LLMError(f"{what} ({self.describe()}, timeout {self.timeout:g} s)")

    def generate(self, messages: list[ChatMessage], on_token: TokenSink | None = None) -> Completion:
        body = {
            "model": self.model,
            "messages": [m.to_json() for m in messages],
            "stream": True,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "stream_options": {"include_usage": True},
        }
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        request = urllib.request.Request(self.url, json.dumps(body).encode("utf-8"), headers, method="POST")
        began = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                if "text/event-stream" in response.headers.get("Content-Type", ""):
                    return self._read_stream(response, began, on_token)
                return self._read_whole(response.read(), began, on_token)
        except urllib.error.HTTPError as exc:
            detail = _snippet(exc.read()) if exc.fp is not None else ""
            raise self._fail(f"the LLM server answered HTTP {exc.code} {exc.reason}: {detail}") from exc
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                raise self._fail("the LLM server did not answer in time") from exc
            raise self._fail(f"cannot reach the LLM server: {reason}") from exc
        except TimeoutError as exc:
            raise self._fail("the LLM server stopped answering (timed out)") from exc
        except (http.client.HTTPException, ConnectionError, OSError) as exc:
            raise self._fail(f"the connection to the LLM server failed: {exc!r}") from exc

    def _read_stream(self, response, began: float, on_token: TokenSink | None) -> Completion:
        pieces: list[str] = []
        first: float | None = None
        usage: dict = {}
        done = False
        for data in _events(response):
            if data == "[DONE]":
                done = True
                break
            chunk = self._json(data)
            if chunk.get("error"):
                raise self._fail(f"the LLM server reported an error: {_snippet(json.dumps(chunk['error']))}")
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices") or ():
                if not isinstance(choice, dict):
                    raise self._fail(f"malformed stream chunk from the LLM server: {_snippet(data)}")
                delta = choice.get("delta") or {}
                text = delta.get("content") if isinstance(delta, dict) else None
                if text:
                    if first is None:
                        first = time.perf_counter()
                    pieces.append(text)
                    if on_token is not None:
                        on_token(text)
        if not done and not pieces:
            raise self._fail("the LLM server closed the stream without an answer")
        return self._completion("".join(pieces), len(pieces), usage, began, first)

    def _read_whole(self, raw: bytes, began: float, on_token: TokenSink | None) -> Completion:
        reply = self._json(raw.decode("utf-8", "replace"))
        try:
            text = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise self._fail(f"malformed reply from the LLM server: {_snippet(raw)}") from exc
        if not isinstance(text, str):
            raise self._fail(f"malformed reply from the LLM server: {_snippet(raw)}")
        first = time.perf_counter()
        if on_token is not None and text:
            on_token(text)
        return self._completion(text, 1, reply.get("usage") or {}, began, first)

    def _json(self, data: str) -> dict:
        try:
            value = json.loads(data)
        except json.JSONDecodeError as exc:
            raise self._fail(f"malformed reply from the LLM server (not JSON): {_snippet(data)}") from exc
        if not isinstance(value, dict):
            raise self._fail(f"malformed reply from the LLM server (not an object): {_snippet(data)}")
        return value

    def _completion(self, text: str, pieces: int, usage: dict, began: float, first: float | None) -> Completion:
        end = time.perf_counter()
        first = end if first is None else first
        completion_tokens = _int(usage.get("completion_tokens")) or pieces
        generation = Generation(
            self.model, _int(usage.get("prompt_tokens")), completion_tokens, first - began, end - first
        )
        return Completion(text, generation)


def _events(response) -> Iterator[str]:
    """The ``data`` fields of a server-sent event stream, one event at a time."""
    data: list[str] = []
    for raw in response:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        # "event:", "id:", "retry:" and ": comment" lines carry nothing we use
    if data:
        yield "\n".join(data)


def _int(value: object) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _snippet(data: bytes | str, limit: int = 200) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit] + "…")
