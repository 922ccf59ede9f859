"""What an answerer needs from a language model: chat messages in, text out, streamed as it comes.

A backend turns chat messages into text, streaming each piece to ``on_token`` as it arrives.
Every expected failure (server down, timeout, HTTP error, malformed reply) is raised as
``LLMError`` naming what failed, so the answerer can fall back to the extractive answer and say
why. Two backends: the OpenAI-compatible HTTP client (qa/llm/http.py) and llama.cpp in process
(qa/llm/local.py, the only module importing ``llama_cpp``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from qa.core.answers import Generation, TokenSink

DEFAULT_MAX_TOKENS = 200


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str

    def to_json(self) -> dict:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True, slots=True)
class Completion:
    """The whole text a backend generated, and what it cost."""

    text: str
    generation: Generation


class LLMBackend(Protocol):
    """Anything that answers chat messages; ``describe()`` names it in messages and reports."""

    def describe(self) -> str: ...

    def generate(self, messages: list[ChatMessage], on_token: TokenSink | None = None) -> Completion:
        """The reply to ``messages``; each piece of text goes to ``on_token`` as it is made. LLMError on failure."""
        ...
