"""The MCP server: ``search``, ``ask`` and ``get_document_span`` over one Engine. The only module that
imports the ``mcp`` SDK.

Each tool returns the JSON the CLI prints (``qa search --json``, ``qa ask --json``), as structured
output, so an MCP client gets the same contract, citations with their verified exact spans
included. Domain errors (qa.core.errors) become tool errors here, with their message naming the bad
value; nothing else in the project knows about MCP. Served over stdio by ``qa mcp`` and over
streamable HTTP at ``/mcp`` by ``qa serve`` (``add_http_route``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from api.auth import Gate, allowed_of
from qa.core.errors import QAError
from qa.core.types import Document, Span
from qa.engine import Engine

log = logging.getLogger(__name__)

HTTP_PATH = "/mcp"
MAX_K = 50
MAX_CONTEXT = 5000

INSTRUCTIONS = (
    "Cited question answering over a local document index. `ask` answers a question with citations, "
    "each an exact span of a stored document (quote == document text[start:end]), or abstains when the "
    "documents do not contain the answer; `search` returns ranked passages with the same spans; "
    "`get_document_span` reads a span (and optional surrounding context) back from the stored document."
)


@contextmanager
def _tool_errors() -> Iterator[None]:
    """A domain error becomes a tool error (is_error result) carrying its message, which names the value."""
    try:
        yield
    except QAError as exc:
        raise ToolError(str(exc)) from exc


def _document(engine: Engine, doc_id: str, allowed: frozenset[str] | None = None) -> Document:
    """The stored document ``doc_id``; one outside the caller's collections is "no such document",
    so its name does not leak."""
    if not engine.visible(doc_id, allowed):
        raise ToolError(f"no document {doc_id!r} in the index")
    return engine.index.document(doc_id)


def _allowed(ctx: Context | None) -> frozenset[str] | None:
    """The collections the caller may see: its token's grants over HTTP (api/auth.py), all on stdio."""
    try:
        request = ctx.request_context.request if ctx is not None else None
    except ValueError:  # no request: called outside the MCP machinery
        return None
    return allowed_of(getattr(request, "scope", None))


def _pages(document: Document, start: int, end: int) -> list[int]:
    """The pages characters ``[start, end)`` lie on (empty for formats without pages)."""
    pages = sorted({p.page for p in document.pages if p.start < end and p.end > start})
    first = document.page_at(start)
    return pages or ([] if first is None else [first])


def span_json(document: Document, start: int, end: int, context: int = 0) -> dict[str, Any]:
    """``document.text[start:end]`` with where it is (title, source, page(s), boxes) and ``context``
    characters before and after it; SpanMismatch for an empty or out-of-range span."""
    if context < 0:
        raise ToolError(f"context must be 0 or more characters, not {context}")
    span = Span(**Span.located(document, start, end))
    return span.location_json() | {
        "text": span.text,
        "pages": _pages(document, start, end),
        "before": document.text[max(0, start - context) : start],
        "after": document.text[end : end + context],
        "document_length": len(document.text),
    }


def build_server(engine: Engine, log_level: str = "WARNING") -> MCPServer:
    """The MCP server over ``engine``: the index is read at each call, so a newly published
    generation is picked up without a restart."""
    server = MCPServer("qa", instructions=INSTRUCTIONS, log_level=log_level)  # type: ignore[arg-type]

    @server.tool(title="Search the documents")
    def search(
        query: Annotated[str, Field(description="what to look for")],
        k: Annotated[int, Field(ge=1, le=MAX_K, description="passages to return")] = 5,
        mode: Annotated[Literal["hybrid", "dense", "bm25"], Field(description="retriever")] = "hybrid",
        ctx: Context | None = None,
    ) -> dict[str, Any]:
        """Ranked passages for a query, as `qa search --json` gives them: each hit is an exact span of a
        stored document (doc_id, start, end, text == document text[start:end]) with its title, source,
        page, boxes and scores."""
        with _tool_errors():
            hits = engine.retriever().search(query, k=k, mode=mode, collections=_allowed(ctx))
        return {"query": query, "mode": mode, "hits": [h.to_json() for h in hits]}

    @server.tool(title="Answer a question with citations")
    def ask(
        question: Annotated[str, Field(description="the question")],
        passages: Annotated[int, Field(ge=1, le=MAX_K, description="passages to read")] = 5,
        ctx: Context | None = None,
    ) -> dict[str, Any]:
        """Answer a question from the documents, as `qa ask --json` does: `answer` with `citations`,
        each a verified exact span (doc_id, start, end, quote == document text[start:end]); when the
        documents do not contain the answer, `abstained` is true and nothing is cited."""
        with _tool_errors():
            allowed = _allowed(ctx)
            answerer = engine.answerer(None, allowed) if engine.llm is None else engine.llm_answerer(None, allowed)
            return answerer.answer(question, k=passages).to_json()

    @server.tool(title="Read a span of a document")
    def get_document_span(
        doc_id: Annotated[str, Field(description="document id, as in a hit or citation")],
        start: Annotated[int, Field(description="first character (0-based)")],
        end: Annotated[int, Field(description="character after the last one")],
        context: Annotated[int, Field(ge=0, le=MAX_CONTEXT, description="characters around the span")] = 0,
        ctx: Context | None = None,
    ) -> dict[str, Any]:
        """The exact text `document.text[start:end]` of a stored document (a hit's or citation's span),
        with its title, source, page(s) and `context` characters before and after it."""
        with _tool_errors():
            return span_json(_document(engine, doc_id, _allowed(ctx)), start, end, context)

    return server


def serve_stdio(engine: Engine) -> None:
    """Serve MCP over this process's stdin and stdout until the client closes them."""
    build_server(engine).run("stdio")


def add_http_route(
    app: Any, engine: Engine, host: str = "127.0.0.1", path: str = HTTP_PATH, gate: Gate | None = None
) -> None:
    """Serve MCP (streamable HTTP) at ``path`` of an already running Starlette/FastAPI ``app``.

    A mounted app's lifespan never runs, and the app here is already serving, so the SDK's session
    manager is started on the first request, inside the server's own event loop, and lives as long
    as that loop. ``host`` is where the app listens: on a loopback address the SDK refuses requests
    whose Host or Origin header is not local (DNS rebinding protection). With a ``gate``, every
    request must carry a valid API token (api/auth.py).
    """
    from starlette.routing import Route

    server = build_server(engine)
    server.streamable_http_app(streamable_http_path=path, host=host)  # creates the session manager
    endpoint = _StartedOnFirstRequest(server.session_manager.handle_request, server.session_manager.run)
    if gate is not None:
        endpoint = gate.protect(endpoint)
    # First, so that no route of the app's own (a catch-all) answers for it.
    app.router.routes.insert(0, Route(path, endpoint=endpoint))


class _StartedOnFirstRequest:
    """An ASGI app that runs ``lifespan`` (an async context manager) in the serving loop before its
    first request, and keeps it running while the loop lives."""

    def __init__(self, handle: Callable[..., Any], lifespan: Callable[[], Any]) -> None:
        self._handle = handle
        self._lifespan = lifespan
        self._ready: asyncio.Event | None = None
        self._task: asyncio.Task | None = None  # referenced, so it is not collected while it runs
        self._failure: BaseException | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._ready is None:  # one event loop: nothing runs between this check and the assignment
            self._ready = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="mcp-session-manager")
        await self._ready.wait()
        if self._failure is not None:
            raise RuntimeError("the MCP session manager failed to start") from self._failure
        await self._handle(scope, receive, send)

    async def _run(self) -> None:
        assert self._ready is not None
        try:
            async with self._lifespan():
                self._ready.set()
                await asyncio.Event().wait()  # until the loop is closed
        except BaseException as exc:
            if not self._ready.is_set():
                self._failure = exc
                log.exception("the MCP session manager failed to start")
            raise
        finally:
            self._ready.set()
