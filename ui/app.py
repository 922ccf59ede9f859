"""The browser chat: layout and event wiring. The only module that imports gradio.

What each event does is in ``ui.handlers`` (plain values in, plain values out); here they become
components, toasts and gradio's "leave as it is" (``gr.skip()``). Answers, sources and details are
HTML built by ``ui.render`` (document text escaped there); the chat bubbles are shown without
markdown rendering, so nothing a document says becomes markup. Pages of cited PDFs are served by
this same server (``PAGE_ROUTE``, from ``ui.pages``), so the page loads nothing from elsewhere.
"""

from __future__ import annotations

import os

# Before gradio is imported: it reads these at import time, and this app must not phone home.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("GRADIO_TELEMETRY_ENABLED", "False")

import logging
from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr
from fastapi import Request, Response

from qa.engine import Engine
from ui import handlers, render
from ui.handlers import ChatView, Panels, Source
from ui.pages import PAGE_ROUTE, PageImages, PageNotFound
from ui.session import ChatState  # not under TYPE_CHECKING: gradio resolves the handlers' annotations
from ui.styles import CSS
from ui.uploads import UPLOAD_SUFFIXES, Uploads

log = logging.getLogger(__name__)

# System fonts only: the default theme would fetch web fonts from the internet.
THEME = gr.themes.Default(
    font=["system-ui", "Segoe UI", "Helvetica", "Arial", "sans-serif"],
    font_mono=["ui-monospace", "Consolas", "monospace"],
)


def _hint(demo: bool) -> str:
    own = (
        "To ask about your own documents, upload them under <b>Documents</b> below, or run "
        "<code>qa index build ~/Documents --index DIR</code> and then <code>qa serve --index DIR</code>."
    )
    corpus = "You are looking at the built-in demo corpus: this project's user guide. " if demo else ""
    return f'<div class="qa-hint"><h2>qa — cited answers from your documents</h2>{corpus}{own}</div>'


@dataclass
class Page:
    """The components that events read or write."""

    status: gr.HTML
    state: gr.State
    chatbot: gr.Chatbot
    question: gr.Textbox
    ask: gr.Button
    query: gr.Textbox
    clear: gr.Button
    citations: gr.Radio
    source: gr.HTML
    details: gr.HTML
    answer_json: gr.JSON
    files: gr.File
    index_button: gr.Button
    upload_result: gr.HTML
    passages: gr.Slider
    mode: gr.Radio

    @property
    def panels(self) -> list:
        """The Sources column, in the order of ``_panel_values``."""
        return [self.citations, self.source, self.details, self.answer_json]


def build_app(
    engine: Engine,
    uploads: Uploads,
    *,
    demo: bool = False,
    pages: PageImages | None = None,
    grants: handlers.UserGrants | None = None,
) -> gr.Blocks:
    with gr.Blocks(title="qa — cited answers", analytics_enabled=False) as app:
        gr.HTML(_hint(demo), elem_id="qa-hint")
        # With logins the line waits for the session's user (app.load below): the page's initial
        # config is the same for everyone.
        status = gr.HTML(handlers.status(engine) if grants is None else "", elem_id="qa-status")
        state = gr.State(None)
        with gr.Row():
            with gr.Column(scale=3):
                chat = _chat_column()
            with gr.Column(scale=2):
                sources = _sources_column()
        documents = _documents(uploads)
        settings = _settings(engine)
        page = Page(status=status, state=state, **chat, **sources, **documents, **settings)
        _wire_chat(page, engine, pages, grants)
        _wire_uploads(page, engine, uploads, grants)

        def session_status(request: gr.Request) -> str:
            return handlers.status(engine, handlers.access(grants, getattr(request, "username", None)).collections)

        app.load(session_status, None, status, api_visibility="private")
        # Another session's upload changes the index too; a cheap re-read keeps this line true.
        gr.Timer(15).tick(session_status, None, status, api_visibility="private", show_progress="hidden")
    return app


def _chat_column() -> dict:
    chatbot = gr.Chatbot(
        label="Chat",
        elem_id="qa-chat",
        height=480,
        render_markdown=False,
        sanitize_html=True,
        latex_delimiters=[],
        feedback_options=None,
        group_consecutive_messages=False,
        allow_tags=False,
        buttons=["copy", "copy_all"],  # not "share": it posts to a website
        placeholder="Ask a question about the documents; every answer is quoted from them.",
    )
    with gr.Row():
        question = gr.Textbox(show_label=False, placeholder="Ask a question…", scale=5, elem_id="qa-question", lines=1)
        ask = gr.Button("Ask", variant="primary", scale=1, elem_id="qa-ask")
    query = gr.Textbox(
        label="Retrieval query (follow-ups are rewritten with the conversation)",
        interactive=False,
        elem_id="qa-query",
    )
    clear = gr.Button("New conversation", size="sm", elem_id="qa-clear")
    return {"chatbot": chatbot, "question": question, "ask": ask, "query": query, "clear": clear}


def _sources_column() -> dict:
    empty = handlers.source_view(None, None)
    gr.Markdown("### Sources")
    citations = gr.Radio(
        label="Citations of this conversation (newest first): select one to see its source",
        choices=[],
        elem_id="qa-citations",
    )
    # Its script turns the pages of a PDF's page view; no click goes to the server.
    source = gr.HTML(empty.html, elem_id="qa-source", js_on_load=render.PAGE_SCRIPT)
    with gr.Accordion("Retrieval details (scores of each passage)", open=False, elem_id="qa-details"):
        details = gr.HTML(empty.details, elem_id="qa-retrieval")
    with gr.Accordion("Answer as JSON", open=False):
        answer_json = gr.JSON(elem_id="qa-json")
    return {"citations": citations, "source": source, "details": details, "answer_json": answer_json}


def _documents(uploads: Uploads) -> dict:
    with gr.Accordion("Documents", open=True, elem_id="qa-documents"):
        limit_mb = uploads.max_bytes / 2**20
        files = gr.File(
            label=f"Add documents ({' '.join(UPLOAD_SUFFIXES)}; at most {limit_mb:.0f} MB each)",
            file_count="multiple",
            elem_id="qa-files",
        )
        index_button = gr.Button("Index these files", elem_id="qa-index")
        upload_result = gr.HTML(elem_id="qa-upload-result")
    return {"files": files, "index_button": index_button, "upload_result": upload_result}


def _settings(engine: Engine) -> dict:
    chosen = handlers.settings(engine)
    with gr.Accordion("Settings", open=False, elem_id="qa-settings"):
        passages = gr.Slider(1, chosen.max_passages, value=chosen.passages, step=1, label="Passages to answer from")
        mode = gr.Radio(
            list(chosen.modes),
            value=chosen.mode,
            label="Answer mode (llm: a language model writes the answer; each sentence is checked "
            "against the passages and unsupported ones are marked)",
        )
    return {"passages": passages, "mode": mode}


def _wire_chat(page: Page, engine: Engine, pages: PageImages | None, grants: handlers.UserGrants | None) -> None:
    def on_ask(text: str, n_passages: float, answer_mode: str, chat: ChatState | None, request: gr.Request):
        # A generator: LLM answers are shown as they are written, then replaced by the checked answer.
        allowed = handlers.access(grants, getattr(request, "username", None))
        for view in handlers.ask(engine, chat, text, n_passages, answer_mode, pages, allowed):
            yield (view.question, *_chat_values(view))

    ask_outputs = [page.question, page.chatbot, page.query, *page.panels, page.state]
    ask_inputs = [page.question, page.passages, page.mode, page.state]
    page.ask.click(on_ask, ask_inputs, ask_outputs, api_name="ask", concurrency_id="ask")
    page.question.submit(on_ask, ask_inputs, ask_outputs, api_visibility="private", concurrency_id="ask")

    # gradio finds the event argument by its annotation, and ignores every annotation if one fails to resolve.
    def on_select_message(chat: ChatState | None, event: gr.SelectData):
        return _panel_values(handlers.select_message(chat, event.index))

    page.chatbot.select(on_select_message, [page.state], page.panels, api_visibility="private")

    def on_citation(choice: str | None, chat: ChatState | None):
        return _source_values(handlers.choose_source(chat, choice))

    sources = [page.source, page.details, page.answer_json]
    page.citations.input(on_citation, [page.citations, page.state], sources, api_visibility="private")

    def on_clear(chat: ChatState | None):
        return _chat_values(handlers.reset(chat))

    clear_outputs = [page.chatbot, page.query, *page.panels, page.state]
    page.clear.click(on_clear, [page.state], clear_outputs, api_name="clear")
    page.chatbot.clear(on_clear, [page.state], clear_outputs, api_visibility="private")  # the bin icon of the chat


def _wire_uploads(page: Page, engine: Engine, uploads: Uploads, grants: handlers.UserGrants | None) -> None:
    def on_index(paths: list[str] | None, request: gr.Request, progress=gr.Progress()):
        allowed = handlers.access(grants, getattr(request, "username", None))
        report = lambda amount, what: progress(amount, desc=what)  # noqa: E731
        done = handlers.index_files(engine, uploads, paths, report, allowed)
        _toast(*done.warnings)
        if done.result is None:
            return gr.skip(), gr.skip(), gr.skip()
        return None, done.result, done.status  # None empties the file list

    page.index_button.click(
        on_index,
        [page.files],
        [page.files, page.upload_result, page.status],
        api_name="upload",
        concurrency_id="index",
        concurrency_limit=1,
    )


def _toast(*warnings: str | None) -> None:
    for warning in warnings:
        if warning:
            gr.Warning(warning)


def _chat_values(view: ChatView) -> tuple:
    """The chat, query, Sources column and state of ``view`` (its toast shown), as gradio outputs."""
    _toast(view.warning)
    query = gr.skip() if view.query is None else view.query
    return (view.messages, query, *_panel_values(view.panels), view.chat)


def _panel_values(panels: Panels | None) -> tuple:
    if panels is None:
        return (gr.skip(),) * 4
    return (gr.Radio(choices=panels.choices, value=panels.choice), *_source_values(panels.source))


def _source_values(source: Source | None) -> tuple:
    if source is None:
        return (gr.skip(),) * 3
    return source.html, source.details, source.json


def launch(
    engine: Engine,
    uploads: Uploads,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    demo: bool = False,
    block: bool = True,
    pages: PageImages | None = None,
    auth: Callable[[str, str], bool] | None = None,
    grants: handlers.UserGrants | None = None,
) -> gr.Blocks:
    """Start the server; with ``block`` it serves until interrupted. With ``pages``, sources in PDFs
    are also shown on their rendered page, served by this server at ``PAGE_ROUTE``. With ``auth``
    (user name, password -> whether they match), the chat, its pages and gradio's own routes need a
    login first (gradio's login page); ``grants`` (user name -> collections) limits what each
    logged-in user's questions read and where their uploads go."""
    app = build_app(engine, uploads, demo=demo, pages=pages, grants=grants)
    # Two questions at a time: each is one short model call, and the machine has two cores.
    app.queue(default_concurrency_limit=2)
    app.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=True,
        ssr_mode=False,
        share=False,
        inbrowser=False,
        quiet=True,
        show_error=False,  # an unexpected error's text could quote a document; QAErrors are shown, escaped
        max_file_size=uploads.max_bytes,
        theme=THEME,
        css=CSS,
        auth=auth,
        auth_message="Log in with a user made by <code>qa auth user add NAME</code>." if auth else None,
    )
    if pages is not None:
        # Added once the app exists (launch creates it); no page URL is handed out before this returns.
        _serve_pages(app.app, pages, grants)
    if block:
        app.block_thread()
    return app


def _serve_pages(server, pages: PageImages, grants: handlers.UserGrants | None = None) -> None:
    """``GET PAGE_ROUTE`` on gradio's own FastAPI app: a page of an indexed PDF as PNG, 404 otherwise."""
    safe = {"X-Content-Type-Options": "nosniff"}

    def page_png(request: Request, doc_key: str, page: str) -> Response:
        if not _logged_in(server, request):
            return Response("log in first", status_code=401, media_type="text/plain", headers=safe)
        allowed = None if grants is None else handlers.access(grants, _user(server, request)).collections
        try:
            png = pages.png(doc_key, page, allowed)
        except PageNotFound as missing:
            log.info("page %s/%s not served: %s", doc_key[:40], page[:12], missing.reason)
            return Response("no such page", status_code=404, media_type="text/plain", headers=safe)
        except Exception:
            log.exception("rendering page %s of %s failed", page[:12], doc_key[:40])
            return Response("the page could not be rendered", status_code=500, media_type="text/plain", headers=safe)
        # The URL carries the file's version, so a browser may keep the picture.
        return Response(png, media_type="image/png", headers={**safe, "Cache-Control": "private, max-age=86400"})

    server.add_api_route(PAGE_ROUTE, page_png, methods=["GET"], include_in_schema=False)


def _logged_in(server, request) -> bool:
    """Whether ``request`` comes from a browser logged in to gradio (always, when no login is asked)."""
    # gradio's app carries its login settings; a bare FastAPI app (tests) asks for none
    if getattr(server, "auth", None) is None and getattr(server, "auth_dependency", None) is None:
        return True
    return _user(server, request) is not None


def _user(server, request) -> str | None:
    """The user a gradio login cookie of ``request`` names, None without one."""
    cookies = request.cookies
    token = cookies.get(f"access-token-{server.cookie_id}") or cookies.get(f"access-token-unsecure-{server.cookie_id}")
    return None if token is None else server.tokens.get(token)


def warm_up_server(app: gr.Blocks) -> None:
    """Send one question through the server's own queue before anyone else does.

    Measured here: a process's first request takes ~1.3 s longer than later ones (one-time set-up
    inside gradio), even with the model loaded; this puts that cost on start-up, not on a user.
    """
    from gradio_client import Client

    try:
        client = Client(app.local_url, verbose=False, analytics_enabled=False, download_files=False)
        client.predict("What is this about?", api_name="/ask")
        client.close()
    except Exception as exc:  # a failed warm-up only costs the first user some time
        log.warning("warm-up request failed: %s", exc)
