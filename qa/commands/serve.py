"""``qa serve``: the browser chat over an index (the demo corpus, kept up to date with it, when none is given),
with the MCP endpoint, the HTTP API (/api/v1) and the OpenAI-compatible chat (/v1) on the same server."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from api.auth import Rate
from qa.commands.common import EXIT_ERROR, add_index_arg, index_location
from qa.commands.llm_args import add_llm_args, llm_backend
from qa.core.credentials import CredentialStore, auth_file_for, is_loopback
from qa.core.errors import BadQuery
from qa.core.paths import DEMO_CORPUS, default_index_dir, demo_index_dir


def register(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="open the browser chat (on the demo corpus unless --index is given)")
    add_index_arg(serve, "index directory (default: the demo corpus's index)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    serve.add_argument(
        "--uploads", type=Path, default=None, help="folder for uploaded documents (default: INDEX-uploads beside it)"
    )
    serve.add_argument("--max-upload-mb", type=float, default=None, help="size limit of one upload (default 25)")
    serve.add_argument(
        "--auth-file", type=Path, default=None, help="credential file (default: INDEX-auth/auth.json beside the index)"
    )
    serve.add_argument(
        "--rate-limit",
        default="60/min",
        help="requests per API token: N/sec, N/min, N/hour or N/day (default 60/min)",
    )
    serve.add_argument(
        "--upload-limit", type=int, default=100, help="files each API token may upload in 24 hours (default 100)"
    )
    add_llm_args(serve)
    serve.set_defaults(run=_serve_command)


def _serve_command(args: argparse.Namespace) -> int:
    began = time.perf_counter()
    location = index_location(args, demo_index_dir())
    demo = args.index is None and isinstance(location, Path)
    # A store keeps its credentials and uploads beside the default index directory.
    root = location if isinstance(location, Path) else default_index_dir().with_name("store")
    # Before anything is loaded or bound: another address needs credentials (docs/guide/programs.md).
    store = CredentialStore(args.auth_file or auth_file_for(root))
    locked = store.has_any()
    if not locked and not is_loopback(args.host):
        index = "" if demo else f" --index {args.index}" if args.index else f" --auth-file {store.path}"
        print(
            f"qa: error: --host {args.host} lets other computers in, and no one can log in yet: first run "
            f"`qa auth user add NAME{index}` (browser chat) or `qa auth token create NAME{index}` (API)",
            file=sys.stderr,
        )
        return EXIT_ERROR
    if args.upload_limit < 0:
        raise BadQuery(f"--upload-limit {args.upload_limit} is negative")
    try:
        rate = Rate.parse(args.rate_limit)
    except ValueError as exc:
        raise BadQuery(f"--rate-limit: {exc}") from exc
    from qa.engine import Engine
    from ui.uploads import DEFAULT_MAX_MB, Uploads

    embedder = _ensure_demo_index(root) if demo else None
    engine = Engine(location, embedder, llm=llm_backend(args))
    engine.retriever()  # IndexNotFound / IndexMismatch now, as a message, rather than at the first question
    # The model loads while gradio imports and the server starts, so the first question need not wait for it.
    warm_up = _in_background(lambda: _warm_up(engine))
    # An in-process language model loads beside the embedder (a server backend has nothing to load).
    load_llm = _in_background(getattr(engine.llm, "load", lambda: None))
    uploads_dir = args.uploads or root.with_name(root.name + "-uploads")
    max_mb = args.max_upload_mb if args.max_upload_mb is not None else DEFAULT_MAX_MB
    uploads = Uploads(engine, uploads_dir, max_bytes=int(max_mb * 2**20))

    from ui.app import launch, warm_up_server
    from ui.pages import PageImages, default_cache_dir

    # Cited PDFs are shown on their page, rendered from the file they were indexed from.
    pages = PageImages(engine.document_by_key, default_cache_dir())
    auth = store.check_user if locked else None
    grants = store.user_collections if locked else None
    app = launch(
        engine, uploads, host=args.host, port=args.port, demo=demo, block=False, pages=pages, auth=auth, grants=grants
    )
    url = f"http://{args.host}:{args.port}/"
    from api.auth import Gate
    from api.mcp import HTTP_PATH, add_http_route

    gate = Gate(store, rate, uploads_per_day=args.upload_limit) if locked else None
    if locked:
        users = len(store.users())
        print(
            f"qa: credentials from {store.path}: the API needs a token ({len(store.tokens())} made, "
            f"{rate.text} each), the browser chat a login ({users} user{'s' * (users != 1)})",
            flush=True,
        )
    # The same tools as `qa mcp`, over streamable HTTP on this server (docs/guide/programs.md).
    add_http_route(app.app, engine, host=args.host, gate=gate)
    print(f"qa: MCP (streamable HTTP) at {url.rstrip('/')}{HTTP_PATH}", flush=True)
    from api import http, openai_compat

    # The HTTP API and the OpenAI-compatible chat endpoint, over the same engine and uploads.
    routers = (http.build_router(engine, uploads), openai_compat.build_router(engine))
    http.mount(app.app, *routers, host=args.host, gate=gate)
    print(f"qa: HTTP API at {url.rstrip('/')}{http.PREFIX} (schema: {http.PREFIX}/openapi.json)", flush=True)
    print(f"qa: OpenAI-compatible chat at {url.rstrip('/')}{openai_compat.PREFIX}/chat/completions", flush=True)
    print(f"qa: page up at {url} after {time.perf_counter() - began:.1f}s; loading the model", flush=True)
    # gradio's own first-request set-up (~1.3 s) is paid by a question of ours, off the critical
    # path: ready means the model is loaded and has answered, and a user's question asked while
    # that request runs is answered beside it.
    if auth is None:  # behind a login, gradio's client cannot send it; the first user pays instead
        _in_background(lambda: warm_up_server(app))
    warm_up()
    load_llm()
    print(f"qa: serving {root} at {url} (ready in {time.perf_counter() - began:.1f}s; Ctrl+C stops)", flush=True)
    try:
        app.block_thread()
    finally:
        app.close()
    return 0


def _warm_up(engine) -> None:
    """Load the model and run one question through every stage (sentence splitter, tokenizers, BM25)."""
    from qa.core.errors import QAError

    # An empty index has nothing to warm; the first real question reports any real problem.
    with contextlib.suppress(QAError):
        engine.ask("What is this about?")


def _in_background(work: Callable[[], object]) -> Callable[[], None]:
    """Start ``work`` on a thread; the returned function waits for it and re-raises its error."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # re-raised by wait() in the main thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="qa-warm-up", daemon=True)
    thread.start()

    def wait() -> None:
        thread.join()
        if failure:
            raise failure[0]

    return wait


def _ensure_demo_index(root: Path):
    """Build the demo index, or bring it up to date when the guide changed since it was built
    (a newer checkout); the embedder loaded for that, None when nothing had to be embedded."""
    from index.embedding import default_embedder, recorded_embedder
    from index.loaders import iter_sources
    from index.store import IndexDir
    from index.tables import document_state
    from index.update import update_index
    from qa.core.types import Document

    index_dir = IndexDir(root)
    if index_dir.exists():
        stored = index_dir.hashes()
        guide = [d for d in iter_sources([DEMO_CORPUS]) if isinstance(d, Document)]
        if all(stored.state(d.doc_id) == document_state(d) for d in guide):
            return None
        embedder = recorded_embedder(index_dir.manifest().embedder)  # the backend it was built with
    else:
        embedder = default_embedder()
    print(f"qa: indexing the demo corpus {DEMO_CORPUS} -> {root}", file=sys.stderr, flush=True)
    # Not pruned: documents uploaded in the browser live in the same index.
    update_index([DEMO_CORPUS], root, embedder)
    return embedder
