"""One browser session's conversation: its ChatSession, the chat messages and the answer behind each.

The engine is shared by all sessions; everything here is per session (kept in ``gr.State``),
so two people never see each other's history. Nothing here imports gradio.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from qa.answer.chat import ChatSession
from qa.core.answers import Answer
from qa.core.errors import QAError
from qa.engine import Engine
from ui.pages import PageImages
from ui.render import answer_message_html, error_message_html, generating_html, source_choices, user_message_html

# Every answer mode; "llm" is offered only when the server was started with a language model.
ANSWER_MODES: tuple[str, ...] = ("extractive", "llm")
MAX_PASSAGES = 10


def available_modes(engine: Engine) -> tuple[str, ...]:
    return ANSWER_MODES if engine.llm is not None else ("extractive",)


class ChatState:
    def __init__(
        self, engine: Engine, pages: PageImages | None = None, collections: frozenset[str] | None = None
    ) -> None:
        self.engine = engine
        self.pages = pages  # the server's rendered PDF pages (None: sources as text only)
        self.collections = collections  # what the logged-in user may see (None: everything)
        self.chat = ChatSession(engine.answerer(None, collections))
        self.messages: list[dict] = []  # gradio's {"role", "content"} messages
        self.answers: list[Answer | None] = []  # one per assistant message (None for an error)
        self.selected: Answer | None = None  # the answer whose sources are on show
        # One tab can send a second question before the first is answered (the queue runs two at once).
        self._lock = threading.Lock()

    def ask(self, question: str, passages: int, mode: str, on_token: Callable[[str], None] | None = None) -> Answer:
        """Answer ``question`` in this conversation; QAError (shown as a chat message) when it cannot.

        In "llm" mode ``on_token`` receives the generated text as it comes (the UI shows it while
        the answer is being checked).
        """
        with self._lock:
            return self._ask(question, passages, mode, on_token)

    def _ask(self, question: str, passages: int, mode: str, on_token: Callable[[str], None] | None) -> Answer:
        self.messages.append({"role": "user", "content": user_message_html(question)})
        try:
            modes = available_modes(self.engine)
            if mode not in modes:
                raise QAError(f"unknown answer mode {mode!r}; choose one of {', '.join(modes)}")
            if not 1 <= passages <= MAX_PASSAGES:
                raise QAError(f"number of passages must be between 1 and {MAX_PASSAGES}, got {passages}")
            # A fresh answerer for each question: bound to the index generation current now (an upload
            # may have published a new one), the same generation serves the whole question.
            settings = replace(self.engine.settings, passages=passages)
            if mode == "llm":
                self.chat.answerer = self.engine.llm_answerer(settings, self.collections)
                answer = self.chat.ask(question, on_token=on_token)
            else:
                self.chat.answerer = self.engine.answerer(settings, self.collections)
                answer = self.chat.ask(question)
        except Exception as exc:
            # A bug's text is not for the page (it may quote a document): the server log has it.
            shown = str(exc) if isinstance(exc, QAError) else "internal error; the server log has the details"
            self.messages.append({"role": "assistant", "content": error_message_html(shown)})
            self.answers.append(None)
            raise
        self.messages.append({"role": "assistant", "content": answer_message_html(answer)})
        self.answers.append(answer)
        self.selected = answer
        return answer

    def answer_at(self, message_index: int) -> Answer | None:
        """The answer shown by chat message ``message_index`` (a question's index gives its answer)."""
        assistant = [i for i, m in enumerate(self.messages) if m["role"] == "assistant"]
        for position, i in enumerate(assistant):
            if i >= message_index:
                return self.answers[position]
        return None

    def source_choices(self) -> list[tuple[str, str]]:
        """Every source of the conversation, newest answer first: ``(label, "turn:key")``; turn 1 is Q1."""
        choices: list[tuple[str, str]] = []
        for turn in range(len(self.answers), 0, -1):
            answer = self.answers[turn - 1]
            if answer is not None:
                choices += [(f"Q{turn} {c.label}", f"{turn}:{c.key}") for c in source_choices(answer)]
        return choices

    def first_source(self, answer: Answer) -> str | None:
        """The choice shown first for ``answer``: its citation [1], or its closest passage."""
        turn = next((i for i, a in enumerate(self.answers, 1) if a is answer), None)
        own = source_choices(answer) if turn is not None else []
        return f"{turn}:{own[0].key}" if own else None

    def source(self, choice: str) -> tuple[Answer | None, str | None]:
        """The answer and its own source key for a ``source_choices`` value; that answer becomes selected."""
        turn, _, key = choice.partition(":")
        if not turn.isdigit() or not 1 <= int(turn) <= len(self.answers):
            return None, None
        answer = self.answers[int(turn) - 1]
        if answer is not None:
            self.selected = answer
        return answer, key

    def reset(self) -> None:
        with self._lock:
            self._reset()

    def _reset(self) -> None:
        self.chat.reset()
        self.messages.clear()
        self.answers.clear()
        self.selected = None


@dataclass(frozen=True, slots=True)
class Generating:
    """The chat while an LLM answer is being written: the messages so far, the last one the raw text."""

    messages: list[dict]


@dataclass(frozen=True, slots=True)
class Finished:
    """The question is answered (``answer``) or failed (``error``, already shown as a chat message)."""

    answer: Answer | None
    error: BaseException | None


# Redraw the streamed bubble at most this often: every token would flood the browser with updates.
STREAM_INTERVAL_S = 0.15


def stream_ask(chat: ChatState, question: str, passages: int, mode: str) -> Iterator[Generating | Finished]:
    """``chat.ask`` on a thread, yielding the chat with the text generated so far, then the outcome."""
    pieces: queue.Queue[str | None] = queue.Queue()
    outcome: list[Answer | BaseException] = []

    def work() -> None:
        try:
            outcome.append(chat.ask(question, passages, mode, on_token=pieces.put))
        except BaseException as exc:  # handed to the caller in Finished
            outcome.append(exc)
        finally:
            pieces.put(None)

    thread = threading.Thread(target=work, name="qa-answer", daemon=True)
    thread.start()
    text, ended, shown = "", False, -1.0
    while not ended:
        try:
            piece = pieces.get(timeout=STREAM_INTERVAL_S)
        except queue.Empty:
            piece = ""
        if piece is None:
            ended = True
        else:
            text += piece
        if not ended and time.monotonic() - shown >= STREAM_INTERVAL_S:
            shown = time.monotonic()
            # The worker appends the question itself; until then the bubble goes after the history.
            yield Generating([*chat.messages, {"role": "assistant", "content": generating_html(text)}])
    thread.join()
    result = outcome[0]
    yield Finished(None, result) if isinstance(result, BaseException) else Finished(result, None)
