"""The browser chat: layout and event wiring. The only module that imports gradio.

Answers, sources and details are HTML built by ``ui.render`` (document text escaped there);
the chat bubbles are shown without markdown rendering, so nothing a document says becomes markup.
"""

from __future__ import annotations

import os

# Before gradio is imported: it reads these at import time, and this app must not phone home.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("GRADIO_TELEMETRY_ENABLED", "False")

import logging
from pathlib import Path

import gradio as gr

from qa.core.errors import QAError
from qa.engine import Engine
from ui import render
from ui.session import MAX_PASSAGES, ChatState, Finished, available_modes, stream_ask
from ui.uploads import UPLOAD_SUFFIXES, Uploads

log = logging.getLogger(__name__)

CSS = """
#qa-chat .qa-quote { white-space: normal; }
#qa-chat .qa-marker { color: var(--color-accent); font-weight: 600; }
#qa-chat .qa-query, .qa-status { color: var(--body-text-color-subdued); font-size: 0.9em; margin-top: .4em; }
#qa-chat .qa-abstain { border-left: 3px solid #d97706; padding-left: .5em; }
#qa-chat .qa-error { color: #b91c1c; }
#qa-chat .qa-unsupported { text-decoration: underline wavy #b91c1c; background: #fee2e2; }
#qa-chat .qa-unsupported-mark { color: #b91c1c; font-weight: 600; }
#qa-chat .qa-unsupported-note, #qa-chat .qa-fallback, #qa-chat .qa-generating {
  color: var(--body-text-color-subdued); font-size: 0.9em; margin-top: .4em; }
#qa-chat .qa-fallback { border-left: 3px solid #d97706; padding-left: .5em; }
.qa-passage { white-space: normal; line-height: 1.5; }
mark.qa-cited { background: #fde68a; color: inherit; padding: 0 .1em; }
strong.qa-short { text-decoration: underline; }
.qa-source-head { font-size: .9em; margin-bottom: .4em; }
.qa-title { font-weight: 600; }
.qa-snippet { color: var(--body-text-color-subdued); font-size: .9em; }
table.qa-retrieval { width: 100%; table-layout: fixed; }
table.qa-retrieval th:first-child { width: 2.2em; }
table.qa-retrieval th:nth-child(n+2):nth-child(-n+4) { width: 4.6em; }
table.qa-retrieval td.qa-num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.qa-source, table.qa-retrieval td { overflow-wrap: anywhere; }
"""

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


def _status(engine: Engine) -> str:
    try:
        manifest = engine.index.manifest
    except QAError as exc:
        return render.error_message_html(f"index unavailable: {exc}")
    updated = getattr(manifest, "updated_at", None) or manifest.created_at
    return render.status_html(
        manifest.counts.get("documents", 0),
        manifest.counts.get("chunks", 0),
        str(manifest.embedder.get("name")),
        str(updated),
        str(engine.index_dir.root),
    )


def _panels(chat: ChatState | None, answer):
    """The Sources list (with ``answer``'s first source chosen), that source, retrieval details and JSON."""
    if chat is None or answer is None:
        return gr.Radio(choices=[], value=None), render.source_html(None, None), render.retrieval_html(None), None
    choice = chat.first_source(answer)
    key = choice.partition(":")[2] if choice else None
    return (
        gr.Radio(choices=chat.source_choices(), value=choice),
        render.source_html(answer, key),
        render.retrieval_html(answer),
        answer.to_json(),
    )


def build_app(engine: Engine, uploads: Uploads, *, demo: bool = False) -> gr.Blocks:
    with gr.Blocks(title="qa — cited answers", analytics_enabled=False) as app:
        gr.HTML(_hint(demo), elem_id="qa-hint")
        status = gr.HTML(_status(engine), elem_id="qa-status")
        state = gr.State(None)
        with gr.Row():
            with gr.Column(scale=3):
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
                    question = gr.Textbox(
                        show_label=False, placeholder="Ask a question…", scale=5, elem_id="qa-question", lines=1
                    )
                    ask = gr.Button("Ask", variant="primary", scale=1, elem_id="qa-ask")
                query = gr.Textbox(
                    label="Retrieval query (follow-ups are rewritten with the conversation)",
                    interactive=False,
                    elem_id="qa-query",
                )
                clear = gr.Button("New conversation", size="sm", elem_id="qa-clear")
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                citations = gr.Radio(
                    label="Citations of this conversation (newest first): select one to see its source",
                    choices=[],
                    elem_id="qa-citations",
                )
                source = gr.HTML(render.source_html(None, None), elem_id="qa-source")
                with gr.Accordion("Retrieval details (scores of each passage)", open=False, elem_id="qa-details"):
                    details = gr.HTML(render.retrieval_html(None), elem_id="qa-retrieval")
                with gr.Accordion("Answer as JSON", open=False):
                    answer_json = gr.JSON(elem_id="qa-json")
        with gr.Accordion("Documents", open=True, elem_id="qa-documents"):
            limit_mb = uploads.max_bytes / 2**20
            files = gr.File(
                label=f"Add documents ({' '.join(UPLOAD_SUFFIXES)}; at most {limit_mb:.0f} MB each)",
                file_count="multiple",
                elem_id="qa-files",
            )
            index_button = gr.Button("Index these files", elem_id="qa-index")
            upload_result = gr.HTML(elem_id="qa-upload-result")
        with gr.Accordion("Settings", open=False, elem_id="qa-settings"):
            passages = gr.Slider(
                1, MAX_PASSAGES, value=engine.settings.passages, step=1, label="Passages to answer from"
            )
            modes = available_modes(engine)
            mode = gr.Radio(
                list(modes),
                value=modes[-1],  # started with --llm: LLM answers unless the user switches back
                label="Answer mode (llm: a language model writes the answer; each sentence is checked "
                "against the passages and unsupported ones are marked)",
            )

        def answered(text: str, chat: ChatState, answer, error: BaseException | None):
            if isinstance(error, QAError):
                gr.Warning(render.esc(str(error)))  # toasts render HTML, and the message may quote a document
            elif error is not None:
                log.error("answering %r failed", text, exc_info=error)
                gr.Warning("Internal error; the server log has the details.")
            if error is not None:
                return ("", chat.messages, "", *_panels(chat, chat.selected), chat)
            return ("", chat.messages, answer.rewritten_query, *_panels(chat, answer), chat)

        def on_ask(text: str, n_passages: float, answer_mode: str, chat: ChatState | None):
            # A generator: LLM answers are shown as they are written, then replaced by the checked answer.
            chat = chat or ChatState(engine)
            if not (text or "").strip():
                gr.Warning("Type a question first.")
                yield (text, chat.messages, gr.skip(), *(gr.skip(),) * 4, chat)
                return
            if answer_mode != "llm":
                try:
                    answer, error = chat.ask(text, int(n_passages), answer_mode), None
                except Exception as exc:
                    answer, error = None, exc
                yield answered(text, chat, answer, error)
                return
            for event in stream_ask(chat, text, int(n_passages), answer_mode):
                if isinstance(event, Finished):
                    yield answered(text, chat, event.answer, event.error)
                else:
                    yield ("", event.messages, gr.skip(), *(gr.skip(),) * 4, chat)

        ask_outputs = [question, chatbot, query, citations, source, details, answer_json, state]
        ask_inputs = [question, passages, mode, state]
        ask.click(on_ask, ask_inputs, ask_outputs, api_name="ask", concurrency_id="ask")
        question.submit(on_ask, ask_inputs, ask_outputs, api_visibility="private", concurrency_id="ask")

        def on_select_message(chat: ChatState | None, event: gr.SelectData):
            answer = None if chat is None else chat.answer_at(int(event.index))
            if answer is None:
                return (gr.skip(),) * 4
            chat.selected = answer
            return _panels(chat, answer)

        chatbot.select(on_select_message, [state], [citations, source, details, answer_json], api_visibility="private")

        def on_citation(choice: str | None, chat: ChatState | None):
            answer, key = (None, None) if chat is None or not choice else chat.source(choice)
            if answer is None:
                return gr.skip(), gr.skip(), gr.skip()
            return render.source_html(answer, key), render.retrieval_html(answer), answer.to_json()

        citations.input(on_citation, [citations, state], [source, details, answer_json], api_visibility="private")

        def on_clear(chat: ChatState | None):
            if chat is not None:
                chat.reset()
            return ([], "", *_panels(None, None), chat)

        clear_outputs = [chatbot, query, citations, source, details, answer_json, state]
        clear.click(on_clear, [state], clear_outputs, api_name="clear")
        chatbot.clear(on_clear, [state], clear_outputs, api_visibility="private")  # the bin icon of the chat

        def on_index(paths: list[str] | None, progress=gr.Progress()):
            if not paths:
                gr.Warning("Choose files to upload first.")
                return gr.skip(), gr.skip(), gr.skip()
            progress(0, desc="checking files")

            def report(done: int, total: int, what: str) -> None:
                progress((done, total), desc=f"indexing {what}")

            try:
                result = uploads.ingest([(Path(p), Path(p).name) for p in paths], report)
            except QAError as exc:
                return None, render.error_message_html(f"indexing failed: {exc}"), _status(engine)
            except Exception:
                log.exception("indexing uploads failed")
                failed = "indexing failed: internal error; the server log has the details"
                return None, render.error_message_html(failed), _status(engine)
            for rejected in result.rejected:
                gr.Warning(render.esc(f"{rejected.name} rejected: {rejected.reason}"))
            return None, _upload_html(result), _status(engine)

        index_button.click(
            on_index,
            [files],
            [files, upload_result, status],
            api_name="upload",
            concurrency_id="index",
            concurrency_limit=1,
        )
        app.load(lambda: _status(engine), None, status, api_visibility="private")
        # Another session's upload changes the index too; a cheap re-read keeps this line true.
        gr.Timer(15).tick(lambda: _status(engine), None, status, api_visibility="private", show_progress="hidden")
    return app


def _upload_html(result) -> str:
    lines = []
    if result.accepted:
        names = ", ".join(render.esc(n) for n in result.accepted)
        lines.append(
            f'<div class="qa-upload-ok">Indexed {len(result.accepted)} file(s) in {result.seconds:.1f} s: {names}. '
            "They are searchable now.</div>"
        )
    for rejected in result.rejected:
        lines.append(f'<div class="qa-error">Rejected {render.esc(rejected.name)}: {render.esc(rejected.reason)}</div>')
    return "".join(lines)


def launch(
    engine: Engine,
    uploads: Uploads,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    demo: bool = False,
    block: bool = True,
) -> gr.Blocks:
    """Start the server; with ``block`` it serves until interrupted."""
    app = build_app(engine, uploads, demo=demo)
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
    )
    if block:
        app.block_thread()
    return app


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
