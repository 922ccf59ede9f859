"""An OpenAI-compatible ``POST /v1/chat/completions`` (and ``GET /v1/models``), so existing chat
clients can use the assistant.

The last message is the question (it must be the user's); the user's earlier messages are the
conversation: they are asked again, in order, through a ``ChatSession`` with the extractive
answerer (cheap, and what the follow-up rewrite reads: qa/answer/rewrite.py), so "When was he
born?" is searched with the person the previous answer named. System messages and the assistant's
earlier replies are not read. The reply text is the answer's own (``[n]`` markers included; the
"not in the documents" text when the documents do not answer) followed by a "Sources:" block
listing each citation, for clients that show only the text; the response also carries the
citations as JSON in an extra top-level field ``citations`` (``Citation.to_json``: quote ==
document text[start:end], checked). Streaming sends ``chat.completion.chunk`` events: the role,
then the checked answer text (an LLM's words are checked before any is sent), then the sources
block, then a last chunk with ``finish_reason`` and ``citations``, then ``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from api.auth import allowed_of
from api.http import SSE, ErrorsAsJSON, answer_events, body_limit, json_response
from qa.answer.chat import ChatSession
from qa.core.answers import Answer, TokenSink
from qa.core.errors import BadQuery
from qa.engine import Engine

PREFIX = "/v1"
MODEL = "qa"
MAX_CHAT_BYTES = 256 * 1024  # a conversation; longer than one question
MAX_TURNS = 20  # earlier questions replayed (the follow-up rewrite reads no further back)


class OpenAIErrors(ErrorsAsJSON):
    """Errors in OpenAI's shape, which its clients read the message from."""

    @staticmethod
    def error_body(message: str, status: int) -> dict:
        kind = "invalid_request_error" if status < 500 else "server_error"
        return {"error": {"message": message, "type": kind, "param": None, "code": None}}


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: only the text ones are read
            return " ".join(str(part.get("text", "")) for part in self.content if part.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    """OpenAI's request; sampling options (temperature, max_tokens, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = MODEL
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False


def sources_block(answer: Answer) -> str:
    """The citations as text: ``[n] title (source, page p, chars a–b): "quote"``; empty without any."""
    if not answer.citations:
        return ""
    lines = ["Sources:"]
    for c in answer.citations:
        page = "" if c.page is None else f", page {c.page}"
        quote = " ".join(c.text.split())
        lines.append(f'[{c.n}] {c.title or c.doc_id} ({c.source}{page}, chars {c.start}–{c.end}): "{quote}"')
    return "\n".join(lines)


def reply_text(answer: Answer) -> str:
    block = sources_block(answer)
    return f"{answer.text}\n\n{block}" if block else answer.text


def _question(request: ChatRequest) -> tuple[str, list[str]]:
    """The question (the last message) and the user's earlier questions, oldest first."""
    last = request.messages[-1]
    if last.role != "user":
        raise BadQuery(f"the last message must be the user's question, not a {last.role!r} message")
    earlier = [m.text() for m in request.messages[:-1] if m.role == "user" and m.text().strip()]
    return last.text(), earlier[-MAX_TURNS:]


def _usage(answer: Answer) -> dict:
    made = answer.generation
    prompt, completion = (made.prompt_tokens, made.completion_tokens) if made is not None else (0, 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def build_router(engine: Engine) -> APIRouter:
    router = APIRouter(prefix=PREFIX, route_class=OpenAIErrors, tags=["openai"])

    def answer(request: ChatRequest, sink: TokenSink | None = None, allowed: frozenset[str] | None = None) -> Answer:
        question, earlier = _question(request)
        session = ChatSession(engine.answerer(None, allowed))
        for asked in earlier:  # the conversation so far, for the follow-up rewrite
            session.ask(asked)
        if engine.llm is not None:
            session.answerer = engine.llm_answerer(None, allowed)
        return session.ask(question, on_token=sink)

    @router.get("/models")
    def models() -> Response:
        """The one model: the assistant (extractive answers, or the LLM's when served with --llm)."""
        return json_response(
            {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "qa"}]}
        )

    @router.post("/chat/completions")
    @body_limit(MAX_CHAT_BYTES)
    async def chat_completions(request: ChatRequest, http: Request) -> Response:
        """A chat completion whose text cites the documents (`[n]`, and a "Sources:" block); the
        citations as JSON in the extra field `citations`. `stream` sends chat.completion.chunk events."""
        _question(request)  # a bad conversation is a 400 before anything is streamed
        allowed = allowed_of(http.scope)  # the collections the token was granted
        made = {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": request.model}
        if not request.stream:
            done = await asyncio.to_thread(answer, request, None, allowed)
            choice = {
                "index": 0,
                "message": {"role": "assistant", "content": reply_text(done)},
                "finish_reason": "stop",
                "logprobs": None,
            }
            citations = [c.to_json() for c in done.citations]
            body = made | {"object": "chat.completion", "choices": [choice], "usage": _usage(done)}
            return json_response(body | {"citations": citations})

        def chunk(delta: dict, finish: str | None = None, **extra: Any) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            data = made | {"object": "chat.completion.chunk", "choices": [choice]} | extra
            return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

        async def events() -> AsyncIterator[str]:
            yield chunk({"role": "assistant", "content": ""})
            async for kind, value in answer_events(lambda sink: answer(request, sink, allowed)):
                if kind == "error":
                    error = OpenAIErrors.error_body(str(value), 400)
                    yield f"data: {json.dumps(error, ensure_ascii=False)}\n\n"
                    return
                if kind == "answer":  # the generated tokens are not sent: only the checked text is
                    yield chunk({"content": value.text})
                    block = sources_block(value)
                    if block:
                        yield chunk({"content": f"\n\n{block}"})
                    yield chunk({}, "stop", citations=[c.to_json() for c in value.citations], usage=_usage(value))
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type=SSE, headers={"Cache-Control": "no-cache"})

    return router
