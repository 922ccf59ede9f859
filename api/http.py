"""The HTTP API of ``qa serve`` under ``/api/v1``: ask, search, the documents, health, and the schema.

Served beside the chat by the same process and over the same Engine (gradio's own FastAPI app), so
an upload from the browser is searchable here at once and the other way round. ``POST /ask`` and
``POST /search`` return the JSON the CLI prints (``qa ask --json``: ``Answer.to_json``, ``qa search
--json``: the hits' ``Hit.to_json``); the pydantic models below only document that contract in the
OpenAPI schema (``GET /api/v1/openapi.json``), and tests/api/test_http.py checks that they and the
CLI's JSON stay one. Domain errors (qa.core.errors) become 4xx ``{"error": message}`` with the
message naming the bad value; nothing here shows a stack trace.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import numpy as np
from fastapi import APIRouter, File, Form, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Message

from api.auth import SCOPE_KEY, Admitted, Denied, Gate, allowed_of, upload_collection_of
from qa.core.answers import Answer, TokenSink
from qa.core.errors import BadQuery, IndexNotFound, QAError, UploadRejected
from qa.engine import Engine

PREFIX = "/api/v1"
MAX_K = 50
MAX_JSON_BYTES = 64 * 1024  # a question or a query; nothing legitimate comes near it
MAX_UPLOAD_FILES = 10  # per request; each file is checked against the uploads' own size limit
SSE = "text/event-stream"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


# --- the contract, as the OpenAPI schema shows it (the values are built by qa.core, not by these) ---


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BoxJSON(_Model):
    """Where a span is drawn on a page, in fractions of the page (origin top-left)."""

    page: int
    x0: float
    y0: float
    x1: float
    y1: float


class ScoresJSON(_Model):
    dense: float | None
    bm25: float | None


class SpanJSON(_Model):
    """Where a span of a stored document is (qa.core.types.Span): the fields hits and citations share."""

    doc_id: str
    title: str
    source: str
    page: int | None
    start: int
    end: int
    boxes: list[BoxJSON]


class HitJSON(SpanJSON):
    """A retrieved passage (``Hit.to_json``): ``text == document.text[start:end]``."""

    text: str
    score: float
    scores: ScoresJSON


class CitationJSON(SpanJSON):
    """Source ``[n]`` of an answer: ``quote == document.text[start:end]``, checked before it is sent."""

    n: int
    quote: str


class ShortSpanJSON(_Model):
    doc_id: str
    start: int
    end: int


class SentenceJSON(_Model):
    """One sentence of an LLM answer and the citations that support it."""

    text: str
    citations: list[int]
    supported: bool
    passages: list[int]
    support_score: float | None


class GenerationJSON(_Model):
    model: str
    prompt_tokens: int
    completion_tokens: int
    prompt_seconds: float
    generation_seconds: float


class AnswerJSON(_Model):
    """An answer, as ``qa ask --json`` prints it (``Answer.to_json``). ``sentences``,
    ``fallback_reason`` and ``generation`` come with LLM answers only."""

    question: str
    rewritten_query: str
    answer: str
    short_answer: str | None
    short_answer_span: ShortSpanJSON | None
    short_answer_confidence: float | None
    abstained: bool
    evidence_score: float
    answer_confidence: float | None
    low_confidence: bool
    citations: list[CitationJSON]
    hits: list[HitJSON]
    mode: Literal["extractive", "llm", "llm-fallback"]
    sentences: list[SentenceJSON] | None = None
    fallback_reason: str | None = None
    generation: GenerationJSON | None = None


class SearchJSON(_Model):
    """Ranked passages, as ``qa search --json`` prints them."""

    query: str
    mode: Literal["hybrid", "dense", "bm25"]
    hits: list[HitJSON]


class AskRequest(_Model):
    question: str = Field(description="the question")
    passages: int | None = Field(default=None, ge=1, le=MAX_K, description="passages to read (default 5)")
    stream: bool = Field(
        default=False,
        description="server-sent events: `token` events (LLM answers) then one `answer` event with the answer",
    )


class SearchRequest(_Model):
    query: str = Field(description="what to look for")
    k: int = Field(default=5, ge=1, le=MAX_K, description="passages to return")
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"


class DocumentJSON(_Model):
    doc_id: str
    title: str
    source: str
    chunks: int
    pages: int
    collection: str


class DocumentsJSON(_Model):
    documents: list[DocumentJSON]


class RejectedJSON(_Model):
    name: str
    reason: str


class UploadedJSON(_Model):
    indexed: list[str] = Field(description="document ids now in the index")
    rejected: list[RejectedJSON] = Field(description="files not indexed, with the reason")
    seconds: float


class DeletedJSON(_Model):
    deleted: str


class HealthJSON(_Model):
    status: Literal["ok"]
    generation: str
    documents: int
    chunks: int
    embedder: str
    llm: bool


class ErrorJSON(_Model):
    error: str


class UploadFolder(Protocol):
    """The uploads of the served index (ui/uploads.py ``Uploads``: the same checks as the browser's)."""

    max_bytes: int

    def ingest(self, files: Iterable[tuple[Path, str]], progress: Any = None, collection: str = "default") -> Any: ...

    def remove(self, doc_id: str) -> None: ...


# --- errors: 4xx JSON naming the bad value, never a stack trace ---


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``data`` as the CLI prints it (``json.dumps``; -Infinity stays as Python writes it)."""
    body = json.dumps(data, ensure_ascii=False)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def status_of(exc: QAError) -> int:
    if isinstance(exc, IndexNotFound):
        return 503
    return 400


def validation_message(errors: Iterable[Any]) -> str:
    """Pydantic's errors as one line, each naming its field and the value given."""
    parts = []
    for error in errors:
        field = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        given = error.get("input")
        shown = "" if given is None or isinstance(given, dict | list) else f" (got {given!r})"
        parts.append(f"{field}: {error.get('msg', 'invalid')}{shown}")
    return "; ".join(parts)


class ErrorsAsJSON(APIRoute):
    """A route whose domain errors, invalid requests and too-large bodies come back as JSON
    (the app is gradio's, already running, so its exception handlers cannot be changed)."""

    @staticmethod
    def error_body(message: str, status: int) -> dict:
        return {"error": message}

    local_only = False  # served on a loopback address: only requests naming this computer (mount)
    gate: Gate | None = None  # with credentials: the API token each request must carry (mount)

    def refused(self, request: Request) -> str | None:
        """Why a request that another web site (or DNS rebinding) could make is refused: a browser
        must not upload or delete documents, nor read them, for a page from elsewhere."""
        host = request.headers.get("host", "")
        if self.local_only and urlsplit("//" + host).hostname not in LOOPBACK:
            return f"host {host!r} is not this computer"
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != host:
            return f"cross-origin request from {origin!r} refused"
        return None

    def get_route_handler(self) -> Callable[..., Any]:
        handler = super().get_route_handler()
        limit: int | None = getattr(self.endpoint, "body_limit", None)

        async def handle(request: Request) -> Response:
            if (reason := self.refused(request)) is not None:
                return json_response(self.error_body(reason, 403), 403)
            try:
                if self.gate is not None:
                    request.scope[SCOPE_KEY] = self.gate.admit(request.headers.get("authorization"))
                if limit is not None:
                    request = _limited(request, limit)
                return await handler(request)
            except RequestValidationError as exc:
                status, message = 422, validation_message(exc.errors())
            except HTTPException as exc:
                status = exc.status_code
                message = f"request body over the {limit}-byte limit" if status == 413 else str(exc.detail)
            except QAError as exc:
                status, message = status_of(exc), str(exc)
            except Denied as denied:
                return json_response(self.error_body(denied.message, denied.status), denied.status, denied.headers)
            return json_response(self.error_body(message, status), status)

        return handle


class _TooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(413, "request body too large")


def _limited(request: Request, limit: int) -> Request:
    """``request`` whose body may not pass ``limit`` bytes (_TooLarge, a 413, when it does): its
    Content-Length is checked first, and the bytes are counted as they come (a chunked body)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise _TooLarge
    read = 0

    async def receive() -> Message:
        nonlocal read
        message = await request.receive()
        read += len(message.get("body", b""))
        if read > limit:
            raise _TooLarge
        return message

    return Request(request.scope, receive)


def body_limit(limit: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Refuse a route's requests whose body is over ``limit`` bytes with a 413 (``ErrorsAsJSON``);
    starlette's own limit answers in plain text."""

    def mark(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        endpoint.body_limit = limit  # type: ignore[attr-defined]
        return endpoint

    return mark


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorJSON, "description": what}
    for code, what in (
        (400, "a domain error, naming the bad value"),
        (401, "no valid API token (served with credentials: docs/guide/programs.md)"),
        (413, "body too large"),
        (422, "invalid request"),
        (429, "a rate or upload limit of the token reached (Retry-After says when to try again)"),
    )
}


# --- streaming: the answer runs on a thread; its tokens come back through the event loop ---


async def answer_events(run: Callable[[TokenSink], Answer]) -> AsyncIterator[tuple[str, Any]]:
    """``("token", text)`` for each piece of generated text, then ``("answer", Answer)``, or
    ``("error", QAError)``; ``run`` answers with the sink it is given."""
    loop = asyncio.get_running_loop()
    tokens: asyncio.Queue[str | None] = asyncio.Queue()

    def sink(text: str) -> None:
        loop.call_soon_threadsafe(tokens.put_nowait, text)

    def work() -> Answer:
        try:
            return run(sink)
        finally:
            loop.call_soon_threadsafe(tokens.put_nowait, None)

    done = loop.run_in_executor(None, work)
    while (text := await tokens.get()) is not None:
        yield "token", text
    try:
        yield "answer", await done
    except QAError as exc:
        yield "error", exc


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


# --- the routes ---


def build_router(engine: Engine, uploads: UploadFolder) -> APIRouter:
    """The ``/api/v1`` routes over ``engine``; the index is read at each request, so a newly
    published generation is picked up without a restart."""
    router = APIRouter(prefix=PREFIX, route_class=ErrorsAsJSON, responses=ERRORS, tags=["qa"])

    def answerer(allowed: frozenset[str] | None):
        return engine.answerer(None, allowed) if engine.llm is None else engine.llm_answerer(None, allowed)

    @router.post("/ask", response_model=AnswerJSON)
    @body_limit(MAX_JSON_BYTES)
    async def ask(request: AskRequest, http: Request) -> Response:
        """Answer a question with citations, as `qa ask --json` does. With `stream`, server-sent
        events: `token` ({"text"}) as an LLM writes, then `answer` (this same JSON, its citations
        checked against the documents), or `error` ({"error"})."""
        if not request.question.strip():
            raise BadQuery("empty question")
        allowed = allowed_of(http.scope)
        if not request.stream:
            answer = await asyncio.to_thread(answerer(allowed).answer, request.question, request.passages)
            return json_response(answer.to_json())
        llm = engine.llm is not None

        def run(sink: TokenSink) -> Answer:
            return answerer(allowed).answer(request.question, k=request.passages, on_token=sink if llm else None)

        async def events() -> AsyncIterator[str]:
            async for kind, value in answer_events(run):
                if kind == "token":
                    yield sse("token", {"text": value})
                elif kind == "answer":
                    yield sse("answer", value.to_json())
                else:
                    yield sse("error", {"error": str(value)})

        return StreamingResponse(events(), media_type=SSE, headers={"Cache-Control": "no-cache"})

    @router.post("/search", response_model=SearchJSON)
    @body_limit(MAX_JSON_BYTES)
    def search(request: SearchRequest, http: Request) -> Response:
        """Ranked passages for a query, as `qa search --json` gives them (from the collections the
        token was granted)."""
        allowed = allowed_of(http.scope)
        hits = engine.retriever().search(request.query, k=request.k, mode=request.mode, collections=allowed)
        return json_response({"query": request.query, "mode": request.mode, "hits": [h.to_json() for h in hits]})

    @router.get("/documents", response_model=DocumentsJSON)
    def documents(http: Request) -> Response:
        """The indexed documents (of the collections the token was granted) with their number of
        chunks and pages."""
        stored = engine.index
        allowed = allowed_of(http.scope)
        chunks = np.bincount(np.asarray(stored.chunks["doc"], dtype=np.int64), minlength=len(stored.documents))
        listed = [
            {
                "doc_id": d.doc_id,
                "title": d.title,
                "source": d.source,
                "chunks": int(n),
                "pages": len(d.pages),
                "collection": d.collection,
            }
            for row, (d, n) in enumerate(zip(stored.documents, chunks, strict=False))
            if allowed is None or stored.collection_of(row) in allowed
        ]
        return json_response({"documents": listed})

    @router.post("/documents", response_model=UploadedJSON)
    @body_limit(MAX_UPLOAD_FILES * uploads.max_bytes + 2**20)
    def upload(
        request: Request,
        files: list[UploadFile] = File(description="documents to index"),
        collection: str | None = Form(
            default=None, description="the collection to add them to (default: the token's first granted one)"
        ),
    ) -> Response:
        """Upload and index documents, with the browser's checks (type, name, size limit); a rejected
        file never stops the others. With API tokens, each token may upload so many files a day (429),
        only to collections it was granted."""
        if len(files) > MAX_UPLOAD_FILES:
            raise BadQuery(f"{len(files)} files in one upload; send at most {MAX_UPLOAD_FILES}")
        target = upload_collection_of(request.scope, collection)
        caller: Admitted | None = request.scope.get(SCOPE_KEY)
        if caller is not None:
            caller.charge_uploads(len(files))
        with tempfile.TemporaryDirectory(prefix="qa-upload-") as folder:
            received = []
            for i, file in enumerate(files):
                path = Path(folder) / str(i)
                with path.open("wb") as out:
                    shutil.copyfileobj(file.file, out)
                received.append((path, file.filename or ""))
            result = uploads.ingest(received, None, target)
        rejected = [{"name": r.name, "reason": r.reason} for r in result.rejected]
        return json_response({"indexed": result.doc_ids, "rejected": rejected, "seconds": round(result.seconds, 3)})

    @router.delete(
        "/documents/{doc_id:path}", response_model=DeletedJSON, responses={403: ERRORS[400], 404: ERRORS[400]}
    )
    def delete(doc_id: str, http: Request) -> Response:
        """Take an uploaded document out of the index (documents of the indexed corpus are refused)."""
        if not engine.visible(doc_id, allowed_of(http.scope)):  # another collection's: as if it were not there
            return json_response({"error": f"no document {doc_id!r} in the index"}, 404)
        try:
            uploads.remove(doc_id)
        except UploadRejected as exc:
            return json_response({"error": str(exc)}, 403)
        return json_response({"deleted": doc_id})

    @router.get("/health", response_model=HealthJSON, responses={503: ERRORS[400]})
    def health(http: Request) -> Response:
        """The served index: its generation, documents and chunks (of the caller's collections), embedder."""
        stored = engine.index
        manifest = stored.manifest
        documents, chunks = stored.counts(allowed_of(http.scope))
        return json_response(
            {
                "status": "ok",
                "generation": stored.path.name,
                "documents": documents,
                "chunks": chunks,
                "embedder": str(manifest.embedder.get("name")),
                "llm": engine.llm is not None,
            }
        )

    return router


def mount(
    app: Any,
    *routers: APIRouter,
    host: str = "127.0.0.1",
    gate: Gate | None = None,
    title: str = "qa",
    version: str = "1",
) -> None:
    """Add ``routers`` to an already running FastAPI ``app`` (gradio's), ahead of its own routes so
    that no catch-all of the app answers for them, and serve their OpenAPI schema at
    ``PREFIX/openapi.json`` (the app's own schema is gradio's). ``host`` is where the app listens:
    on a loopback address, requests whose Host header names another machine are refused. With a
    ``gate``, every request (the schema's too) must carry a valid API token."""
    from fastapi.openapi.utils import get_openapi

    before = list(app.router.routes)
    for router in routers:
        for route in router.routes:  # the routes that answer (the app's may be views of them)
            if isinstance(route, ErrorsAsJSON):
                route.local_only = host in LOOPBACK
                route.gate = gate
        app.include_router(router)
    added = [route for route in app.router.routes if route not in before]
    schema: dict[str, Any] = {}

    def openapi(request: Request) -> Response:
        if gate is not None:
            try:
                gate.admit(request.headers.get("authorization"))
            except Denied as denied:
                return json_response({"error": denied.message}, denied.status, denied.headers)
        if not schema:
            schema.update(get_openapi(title=title, version=version, routes=added, description=__doc__))
        return json_response(schema)

    app.add_api_route(PREFIX + "/openapi.json", openapi, methods=["GET"], include_in_schema=False)
    ours = [route for route in app.router.routes if route not in before]
    app.router.routes[:] = ours + before
