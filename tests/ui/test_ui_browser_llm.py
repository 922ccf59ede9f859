"""LLM answers in Chromium: ``qa serve --llm-url`` pointed at a stub OpenAI server started here.

The text streams into the chat bubble while it is generated, then the checked answer replaces it:
supported sentences with their markers, the unsupported one visibly marked, hostile text inert.
"""

from __future__ import annotations

import pytest
from llm_fakes import StubBehaviour, StubOpenAIServer, passage_with
from ui_server import BLOCKED, OUTPUT, start_server

from index.build import build_index
from index.chunking import ChunkerSettings
from index.embedding import HashingEmbedder
from qa.core.types import Document

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS = [
    Document("bridge.txt", "Bridges", "bridge.txt", "The Golden Gate Bridge was designed by Joseph Strauss."),
    Document("airship.txt", "Airships", "airship.txt", "The Hindenburg airship burned at Lakehurst in 1937."),
]
HOSTILE = "<img src=x onerror=\"window.__xss='llm'\"> The bridge is made of **cheese**."


def reply(messages) -> str:
    n = passage_with(messages, "Golden Gate")
    return f"The Golden Gate Bridge was designed by Joseph Strauss [{n}]. {HOSTILE} [{n}]"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("browser-llm")
    build_index(iter(DOCS), base / "idx", HashingEmbedder(64), ChunkerSettings(max_tokens=40, overlap_tokens=8))
    with StubOpenAIServer(StubBehaviour(reply=reply, piece_delay=0.15)) as stub:
        server = start_server(["--index", str(base / "idx"), "--llm-url", stub.url], base / "logs")
        try:
            yield server
        finally:
            server.stop()
    assert BLOCKED not in server.stderr()


def test_llm_answer_streams_then_marks_the_unsupported_sentence(served, browser) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(served.url)
    page.wait_for_selector("#qa-question textarea")
    page.fill("#qa-question textarea", "Who designed the Golden Gate Bridge?")
    page.click("#qa-ask")
    generating = page.wait_for_selector("#qa-chat .qa-generating-text", timeout=60_000)
    # Shown while it is written: a beginning of the model's words, before any checking.
    assert "The Golden Gate Bridge was designed by Joseph Strauss".startswith(generating.inner_text().strip())
    page.wait_for_selector("#qa-chat .qa-query", timeout=60_000)
    bubble = page.locator("#qa-chat .qa-answer.qa-llm").last
    assert bubble.locator(".qa-sentence").first.inner_text() == "The Golden Gate Bridge was designed by Joseph Strauss."
    unsupported = bubble.locator(".qa-unsupported")
    assert unsupported.count() == 1 and unsupported.inner_text() == HOSTILE
    style = unsupported.evaluate("e => getComputedStyle(e).textDecorationStyle")
    assert style == "wavy"
    assert bubble.locator(".qa-unsupported-mark").inner_text() == "unsupported"
    assert page.evaluate("window.__xss") is None
    assert page.locator("#qa-chat .qa-generating").count() == 0
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "browser-llm-answer.png"), full_page=True)
    page.close()
