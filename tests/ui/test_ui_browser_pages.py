"""The page view in Debian's Chromium: a cited PDF span drawn on its rendered page.

``qa serve`` runs over an index of a three-page PDF drawn with reportlab and read by the
project's own PDF reader (index/formats/pdf.py), with a hashing embedder so no model loads. The
question's evidence is on page 2. The test checks, from the DOM, that the page picture comes from
the app itself, that each highlight rectangle sits where the citation's boxes say, and, on the PNG
the route serves, that the rectangle covers ink (the glyphs of the quote) while a rectangle of the
same size on blank paper covers none; that next/previous turn the pages, the highlight showing
only on its own page; that a PDF deleted after indexing falls back to the text view with a note;
and that every request the browser made went to 127.0.0.1.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from urllib.parse import urlparse

import pytest
from pdf_pages import blank_like, dark_share, write_pdf
from test_ui_browser import ask
from ui_server import BLOCKED, OUTPUT, Server, start_server

from index.build import build_index
from index.chunking import ChunkerSettings
from index.embedding import HashingEmbedder
from index.layout import read_documents
from index.loaders import iter_sources
from index.store import IndexDir
from qa.core.types import Box, Document
from ui.pages import doc_key

pytestmark = pytest.mark.browser

QUESTION = "Who designed the lighthouse tower on Marrow Island?"
GONE_PAGES = [["The Felden windmill was rebuilt in 1911 after a fire.", "It grinds flour for the bakery."]]
TOLERANCE = 0.004  # fractions of the page: boxes are stored to 1/10,000, the DOM is in whole pixels

# Each visible highlight rectangle relative to the page picture, in fractions of the picture.
HIGHLIGHTS = """() => {
  const image = document.querySelector('#qa-source img.qa-page-image').getBoundingClientRect();
  return [...document.querySelectorAll('#qa-source .qa-box')].filter((b) => !b.hidden).map((b) => {
    const r = b.getBoundingClientRect();
    return {x0: (r.left - image.left) / image.width, y0: (r.top - image.top) / image.height,
            x1: (r.right - image.left) / image.width, y1: (r.bottom - image.top) / image.height};
  });
}"""
IMAGE_LOADED = """() => { const i = document.querySelector('#qa-source img.qa-page-image');
  return i !== null && i.complete && i.naturalWidth > 0 && i.src.includes('/' + arguments_page + '.png'); }"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("pages")
    corpus = base / "corpus"
    corpus.mkdir()
    lines = write_pdf(corpus / "marrow.pdf")
    write_pdf(corpus / "felden.pdf", GONE_PAGES)
    build_index(iter_sources([corpus]), base / "idx", HashingEmbedder(256), ChunkerSettings())
    (corpus / "felden.pdf").unlink()  # indexed, then gone: its citations keep only the text view
    documents = {d.doc_id: d for d in read_documents(IndexDir(base / "idx").current())}
    assert documents["marrow.pdf"].boxes, "the PDF reader gave no character boxes"
    running = start_server(["--index", str(base / "idx")], base / "logs", env={"QA_CACHE": str(base / "cache")})
    yield running, documents, lines, base / "cache"
    running.stop()
    assert BLOCKED not in running.stderr()


@pytest.fixture
def page(browser, served):
    """A fresh session on the app; every URL the browser asks for is recorded in ``page.requested``."""
    server: Server = served[0]
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.requested = requested
    page.goto(server.url)
    page.wait_for_selector("#qa-question textarea")
    yield page
    context.close()
    assert requested, "no request was recorded"
    local = [u for u in requested if u.startswith(("data:", "blob:")) or urlparse(u).hostname == "127.0.0.1"]
    off_machine = [u for u in requested if u not in local]
    assert off_machine == [], f"the browser asked for resources off this machine: {off_machine}"


def shown_page(page, number: int) -> None:
    """Wait until the page view shows page ``number`` and its picture has loaded."""
    page.wait_for_function(IMAGE_LOADED.replace("arguments_page", str(number)))
    assert page.get_attribute("#qa-source figure.qa-page", "data-page") == str(number)
    assert page.inner_text("#qa-source .qa-page-number") == str(number)


def cited_boxes(page, document: Document) -> tuple[Box, ...]:
    """The citation's boxes, from the stored document and the character range the panel names."""
    start, end = map(int, re.search(r"chars (\d+)–(\d+)", page.inner_text("#qa-source .qa-source-head")).groups())
    assert document.text[start:end] == page.inner_text("#qa-source mark.qa-cited")
    return document.boxes_for(start, end)


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.headers["Content-Type"] == "image/png"
        return response.read()


def test_the_cited_span_is_highlighted_on_its_rendered_page(page, served) -> None:
    server, documents, lines, cache = served
    ask(page, QUESTION)
    assert "Agnes Whitlock" in page.inner_text("#qa-source mark.qa-cited")  # the text view stays
    shown_page(page, 2)
    image = page.eval_on_selector("#qa-source img.qa-page-image", "i => i.src")
    assert image.startswith(server.url + "qa/page/")  # served by the app itself
    assert list((cache / "pages").glob("*.png"))  # and cached where QA_CACHE says

    expected = [b for b in cited_boxes(page, documents["marrow.pdf"]) if b.page == 2]
    drawn = page.evaluate(HIGHLIGHTS)
    assert expected and len(drawn) == len(expected)
    png = fetch(image)
    evidence = next(line.box for line in lines if "Agnes Whitlock" in line.text)
    drawn_lines = [line.box for line in lines if line.box.page == 2]
    # The quote may run on to the next sentence (a continued pair): each box lies on a drawn line,
    # and one of them on the line that names the designer.
    assert any(evidence.y0 - 0.01 <= box.y0 < box.y1 <= evidence.y1 + 0.01 for box in expected)
    for box, rect in zip(expected, drawn, strict=True):
        for edge in ("x0", "y0", "x1", "y1"):
            assert rect[edge] == pytest.approx(getattr(box, edge), abs=TOLERANCE), edge
        assert any(line.y0 - 0.01 <= box.y0 < box.y1 <= line.y1 + 0.01 for line in drawn_lines)
        on_screen = Box(2, rect["x0"], rect["y0"], rect["x1"], rect["y1"])
        assert dark_share(png, on_screen) > 0.1  # glyphs under the highlight
        assert dark_share(png, blank_like(on_screen)) < 0.001  # and none on blank paper
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "browser-page-view.png"), full_page=True)


def test_next_and_previous_turn_the_pages_and_the_highlight_stays_on_its_page(page) -> None:
    ask(page, QUESTION)
    shown_page(page, 2)
    page.click("#qa-source .qa-page-next")
    shown_page(page, 3)
    assert page.evaluate(HIGHLIGHTS) == [] and page.is_disabled("#qa-source .qa-page-next")
    page.click("#qa-source .qa-page-prev")
    page.click("#qa-source .qa-page-prev")
    shown_page(page, 1)
    assert page.evaluate(HIGHLIGHTS) == [] and page.is_disabled("#qa-source .qa-page-prev")
    page.click("#qa-source .qa-page-next")
    shown_page(page, 2)
    assert len(page.evaluate(HIGHLIGHTS)) >= 1
    pictures = {u for u in page.requested if "/qa/page/" in u}
    assert {re.search(r"/(\d)\.png", u).group(1) for u in pictures} == {"1", "2", "3"}
    # A later answer's page view opens on its own page and turns too (the panel's script outlives its content).
    page.click("#qa-source .qa-page-next")
    shown_page(page, 3)
    ask(page, "When was the Marrow Island lighthouse built?")
    shown_page(page, 2)
    assert "1874" in page.inner_text("#qa-source mark.qa-cited") and len(page.evaluate(HIGHLIGHTS)) == 1
    page.click("#qa-source .qa-page-prev")
    shown_page(page, 1)


def test_a_pdf_gone_since_indexing_keeps_the_text_view_with_a_note(page) -> None:
    ask(page, "When was the Felden windmill rebuilt?")
    assert "1911" in page.inner_text("#qa-source mark.qa-cited")
    note = page.inner_text("#qa-source .qa-page-note")
    assert "Page view unavailable" in note and "felden.pdf is no longer where it was indexed from" in note
    assert page.locator("#qa-source img").count() == 0


def test_the_page_route_refuses_what_is_not_an_indexed_page(served) -> None:
    server = served[0]
    for path in ["qa/page/unknown/1.png", "qa/page/..%2F..%2Fetc%2Fpasswd/1.png", "qa/page/x/0.png"]:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server.url + path, timeout=30)
        assert refused.value.code == 404


def test_the_served_page_is_the_pdf_page(served) -> None:
    """The route's picture of page 2 holds the evidence line's ink where the PDF drew it."""
    server, _, lines, _ = served
    png = fetch(f"{server.url}qa/page/{doc_key('marrow.pdf')}/2.png")
    evidence = next(line.box for line in lines if "Agnes Whitlock" in line.text)
    assert dark_share(png, evidence) > 0.1 and dark_share(png, blank_like(evidence)) < 0.001
