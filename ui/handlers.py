"""What the browser chat's events do, in plain values; ``ui.app`` lays out the page and wires them.

Each handler takes what the page sends (text, numbers, the session's ChatState) and returns what
the page shows: HTML from ``ui.render``, chat messages, the Sources column, toasts. ``None`` in a
result means "leave that part of the page as it is". Nothing here imports gradio.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from qa.core.answers import Answer
from qa.core.errors import QAError
from qa.core.types import ALL_COLLECTIONS, DEFAULT_COLLECTION, Span
from qa.engine import Engine
from ui import render
from ui.pages import PageImages, PageNote, PageView
from ui.session import MAX_PASSAGES, ChatState, Finished, available_modes, stream_ask
from ui.uploads import Uploads

log = logging.getLogger(__name__)

# (amount done: a fraction or (done, total), what is being done) for a progress bar
Report = Callable[[float | tuple[int, int], str], None]
# user name -> the collections granted to the user, in order ("*": all); qa serve's credential store
UserGrants = Callable[[str], tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Access:
    """What a browser session may see (None: everything) and the collection its uploads go to."""

    collections: frozenset[str] | None = None
    uploads: str = DEFAULT_COLLECTION


def access(grants: UserGrants | None, user: str | None) -> Access:
    """The access of the logged-in ``user``: everything without logins (``grants`` None); with
    logins, the user's grants (nothing at all for a session without a user, which gradio's login
    does not let through anyway)."""
    if grants is None:
        return Access()
    if not user:
        return Access(frozenset())
    granted = grants(user) or (DEFAULT_COLLECTION,)
    first = DEFAULT_COLLECTION if granted[0] == ALL_COLLECTIONS else granted[0]
    return Access(None if ALL_COLLECTIONS in granted else frozenset(granted), first)


@dataclass(frozen=True, slots=True)
class Source:
    """One source on show: the Sources panel, the retrieval details and the answer as JSON."""

    html: str
    details: str
    json: dict | None


@dataclass(frozen=True, slots=True)
class Panels:
    """The Sources column: the conversation's ``(label, value)`` choices, the one chosen, and its source."""

    choices: list[tuple[str, str]]
    choice: str | None
    source: Source


@dataclass(frozen=True, slots=True)
class ChatView:
    """What a question or a reset shows; a ``None`` query or panels leaves that part as it is."""

    chat: ChatState | None
    messages: list[dict]
    query: str | None = None  # the retrieval query searched
    panels: Panels | None = None
    question: str = ""  # what is left in the question box
    warning: str | None = None  # a toast: HTML, so anything quoted in it is escaped here


@dataclass(frozen=True, slots=True)
class Indexed:
    """An upload's outcome; ``result`` None means nothing was uploaded and the page stays as it is."""

    result: str | None  # the message under the files (HTML)
    status: str | None  # the index line, re-read
    warnings: list[str]  # toasts (HTML)


@dataclass(frozen=True, slots=True)
class Settings:
    """The Settings panel's choices when a page opens."""

    passages: int
    max_passages: int
    modes: tuple[str, ...]
    mode: str


def settings(engine: Engine) -> Settings:
    modes = available_modes(engine)
    # Started with --llm: LLM answers unless the user switches back.
    return Settings(engine.settings.passages, MAX_PASSAGES, modes, modes[-1])


def status(engine: Engine, collections: frozenset[str] | None = None) -> str:
    """The index line: documents and chunks (those of ``collections`` only, when given: a user
    learns nothing of collections not granted), embedder, when the current generation was written,
    where."""
    try:
        stored = engine.index
    except QAError as exc:
        return render.error_message_html(f"index unavailable: {exc}")
    manifest = stored.manifest
    documents, chunks = stored.counts(collections)
    return render.status_html(
        documents,
        chunks,
        str(manifest.embedder.get("name")),
        str(manifest.created_at),  # each build or update writes a new generation, so this is the last update
        engine.where,
    )


def source_view(answer: Answer | None, key: str | None, pages: PageImages | None = None) -> Source:
    """``answer``'s source ``key`` (its first one for None); the empty panels for no answer.

    With ``pages``, a span drawn on PDF pages is also shown on its rendered page.
    """
    as_json = None if answer is None else answer.to_json()
    page = _page_view(render.span_of(answer, key), pages)
    return Source(render.source_html(answer, key, page), render.retrieval_html(answer), as_json)


def _page_view(span: Span | None, pages: PageImages | None) -> PageView | PageNote | None:
    if span is None or pages is None:
        return None
    try:
        return pages.view(span)
    except Exception:  # a file pdfium chokes on must not cost the text view
        log.exception("page view of %r failed", span.doc_id)
        return PageNote("the page could not be rendered")


def panels(chat: ChatState | None, answer: Answer | None) -> Panels:
    """The Sources column with ``answer``'s first source chosen; empty without an answer."""
    if chat is None or answer is None:
        return Panels([], None, source_view(None, None))
    choice = chat.first_source(answer)
    key = choice.partition(":")[2] if choice else None
    return Panels(chat.source_choices(), choice, source_view(answer, key, chat.pages))


def ask(
    engine: Engine,
    chat: ChatState | None,
    text: str,
    passages: float,
    mode: str,
    pages: PageImages | None = None,
    allowed: Access = Access(),
) -> Iterator[ChatView]:
    """Answer ``text`` in ``chat`` (a new one on a session's first question, showing PDF ``pages``)
    from the documents ``allowed`` lets the session see.

    LLM answers are yielded as they are written, then replaced by the checked answer; other
    modes yield once.
    """
    chat = chat or ChatState(engine, pages, allowed.collections)
    chat.collections = allowed.collections
    if not (text or "").strip():
        yield ChatView(chat, chat.messages, question=text, warning="Type a question first.")
        return
    if mode != "llm":
        yield _ask_now(chat, text, int(passages), mode)
        return
    for event in stream_ask(chat, text, int(passages), mode):
        if isinstance(event, Finished):
            yield _answered(chat, text, event.answer, event.error)
        else:
            yield ChatView(chat, event.messages)


def _ask_now(chat: ChatState, text: str, passages: int, mode: str) -> ChatView:
    try:
        answer = chat.ask(text, passages, mode)
    except Exception as exc:  # already a chat message; _answered adds the toast and the log
        return _answered(chat, text, None, exc)
    return _answered(chat, text, answer, None)


def _answered(chat: ChatState, text: str, answer: Answer | None, error: BaseException | None) -> ChatView:
    if error is None:
        return ChatView(chat, chat.messages, answer.rewritten_query, panels(chat, answer))
    if isinstance(error, QAError):
        warning = render.esc(str(error))  # toasts render HTML, and the message may quote a document
    else:
        log.error("answering %r failed", text, exc_info=error)
        warning = "Internal error; the server log has the details."
    return ChatView(chat, chat.messages, "", panels(chat, chat.selected), warning=warning)


def select_message(chat: ChatState | None, index: int) -> Panels | None:
    """The Sources column of chat message ``index``'s answer, which becomes selected; None if it has none."""
    answer = None if chat is None else chat.answer_at(int(index))
    if answer is None:
        return None
    chat.selected = answer
    return panels(chat, answer)


def choose_source(chat: ChatState | None, choice: str | None) -> Source | None:
    """The source of a Sources choice (its answer becomes selected); None if there is no such source."""
    answer, key = (None, None) if chat is None or not choice else chat.source(choice)
    if answer is None:
        return None
    return source_view(answer, key, chat.pages)


def reset(chat: ChatState | None) -> ChatView:
    """A new conversation in the same session."""
    if chat is not None:
        chat.reset()
    return ChatView(chat, [], "", panels(None, None))


def index_files(
    engine: Engine, uploads: Uploads, paths: list[str] | None, report: Report, allowed: Access = Access()
) -> Indexed:
    """Index the uploaded files at ``paths`` into the session's upload collection; a rejected file
    is reported, never fatal to the others."""
    if not paths:
        return Indexed(None, None, ["Choose files to upload first."])
    report(0, "checking files")

    def progress(done: int, total: int, what: str) -> None:
        report((done, total), f"indexing {what}")

    try:
        result = uploads.ingest([(Path(p), Path(p).name) for p in paths], progress, allowed.uploads)
    except QAError as exc:
        return Indexed(render.error_message_html(f"indexing failed: {exc}"), status(engine, allowed.collections), [])
    except Exception:
        log.exception("indexing uploads failed")
        failed = "indexing failed: internal error; the server log has the details"
        return Indexed(render.error_message_html(failed), status(engine, allowed.collections), [])
    warnings = [render.esc(f"{r.name} rejected: {r.reason}") for r in result.rejected]
    return Indexed(render.upload_html(result), status(engine, allowed.collections), warnings)
