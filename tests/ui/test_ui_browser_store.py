"""The browser chat over a PostgreSQL store (``qa serve --store``), in Debian's Chromium: the
status line names the store with its password hidden, a question is answered with its cited span
marked, the cited PDF span is drawn on its page rendered by the app, and the browser asks
nothing of any other machine. The store is built with a hashing embedder, so no model loads."""

from __future__ import annotations

import re
from urllib.parse import urlparse, urlsplit

import pytest
from pdf_pages import write_pdf
from test_ui_browser import ask
from test_ui_browser_pages import QUESTION, shown_page
from ui_server import BLOCKED, start_server

from index.build import build_index
from index.chunking import ChunkerSettings
from index.embedding import HashingEmbedder
from index.loaders import iter_sources

pytestmark = [pytest.mark.browser, pytest.mark.scale]


@pytest.fixture(scope="module")
def store_server(tmp_path_factory: pytest.TempPathFactory, postgres_server):
    from index.postgres.reader import PgStore

    base = tmp_path_factory.mktemp("store-ui")
    (base / "corpus").mkdir()
    write_pdf(base / "corpus" / "marrow.pdf")
    url = postgres_server.create_database("browser_store")
    build_index(iter_sources([base / "corpus"]), PgStore(url), HashingEmbedder(256), ChunkerSettings())
    running = start_server(["--store", url], base / "logs", env={"QA_CACHE": str(base / "cache")})
    yield running, url
    running.stop()
    assert BLOCKED not in running.stderr()
    assert str(urlsplit(url).password) not in running.stderr() + (running.log_dir / "stdout.txt").read_text()


def test_the_browser_chat_answers_from_a_store_and_draws_the_span_on_its_page(browser, store_server) -> None:
    server, url = store_server
    password = str(urlsplit(url).password)
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.goto(server.url)
        page.wait_for_selector("#qa-question textarea")
        status = page.inner_text("#qa-status")
        assert re.search(r"\b1 documents?\b", status) and "postgresql://qa:***@" in status
        assert password not in page.content()
        ask(page, QUESTION)
        assert "Agnes Whitlock" in page.inner_text("#qa-source mark.qa-cited")
        shown_page(page, 2)
        image = page.eval_on_selector("#qa-source img.qa-page-image", "i => i.src")
        assert image.startswith(server.url + "qa/page/")
        assert page.locator("#qa-source .qa-box:not([hidden])").count() >= 1
    finally:
        context.close()
    off_machine = [u for u in requested if not u.startswith(("data:", "blob:")) and urlparse(u).hostname != "127.0.0.1"]
    assert off_machine == []
