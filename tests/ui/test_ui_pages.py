"""The page view of cited PDFs without a browser: rendering, the disk cache, the route's checks,
the fallback when the file is gone or changed, and the HTML that draws the span on the page."""

from __future__ import annotations

import dataclasses
import io
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from pdf_pages import LIGHTHOUSE_PAGES, blank_like, dark_share, drawn_document, write_pdf
from PIL import Image
from test_ui_render import Parsed

from index.build import build_index
from index.chunking import ChunkerSettings
from index.embedding import HashingEmbedder
from index.formats.pdf_render import MAX_WIDTH_PX, page_sizes, page_text, render_page_png
from index.loaders import iter_sources
from qa.core.answers import Answer, Citation
from qa.core.errors import UnreadableFile
from qa.core.types import Box, Document
from qa.engine import Engine
from ui import handlers, render
from ui.pages import PAGE_ROUTE, PageImages, PageNote, PageNotFound, PageView, default_cache_dir, doc_key

PNG = b"\x89PNG\r\n\x1a\n"
EVIDENCE = "The engineer Agnes Whitlock designed the lighthouse tower."


@pytest.fixture
def pdf(tmp_path: Path):
    path = tmp_path / "files" / "marrow.pdf"
    path.parent.mkdir()
    return path, write_pdf(path)


@pytest.fixture
def document(pdf) -> Document:
    return drawn_document(*pdf)


def finder(documents: Sequence[Document]) -> Callable[[str], Document | None]:
    return lambda key: next((d for d in documents if doc_key(d.doc_id) == key), None)


def images(tmp_path: Path, *documents: Document, **options) -> PageImages:
    return PageImages(finder(documents), tmp_path / "cache", **options)


def citation(document: Document, quote: str, n: int = 1) -> Citation:
    start = document.text.index(quote)
    return Citation.verified(n, document, start, start + len(quote))


def answer_of(*citations: Citation) -> Answer:
    return Answer("q", "q", citations[0].text, None, False, citations, (), 1.0)


def test_pages_are_rendered_at_the_asked_width_and_read_as_text(pdf) -> None:
    path, _ = pdf
    assert len(page_sizes(path)) == 3 and page_sizes(path)[0] == pytest.approx((595.3, 841.9), abs=0.1)
    png = render_page_png(path, 2, 500)
    assert png.startswith(PNG)
    width, height = Image.open(io.BytesIO(png)).size
    assert width == 500 and abs(height - 500 * 841.89 / 595.28) <= 1
    assert "Agnes Whitlock" in page_text(path, 2) and "Agnes" not in page_text(path, 1)
    for page, width in [(0, 500), (4, 500), (1, 0), (1, MAX_WIDTH_PX + 1)]:
        with pytest.raises(ValueError):
            render_page_png(path, page, width)


def test_a_file_that_is_not_a_pdf_is_unreadable(tmp_path: Path) -> None:
    fake = tmp_path / "fake.pdf"
    fake.write_text("not a PDF at all")
    with pytest.raises(UnreadableFile):
        page_sizes(fake)


def test_the_drawn_boxes_cover_ink_on_the_rendered_page(pdf, document: Document) -> None:
    """The coordinate convention end to end: fractions from the top-left land on the glyphs."""
    path, _ = pdf
    box = citation(document, "Agnes Whitlock").boxes[0]
    png = render_page_png(path, 2, 1000)
    assert dark_share(png, box) > 0.15
    assert dark_share(png, blank_like(box)) == 0.0


def test_a_cited_span_is_shown_on_the_page_where_it_begins(tmp_path: Path, document: Document) -> None:
    cited = citation(document, EVIDENCE)
    view = images(tmp_path, document).view(cited)
    assert isinstance(view, PageView)
    assert (view.page, view.pages, view.boxes) == (2, 3, cited.boxes)
    assert view.url(2) == f"qa/page/{doc_key('marrow.pdf')}/2.png?v={view.version}"
    assert re.fullmatch(r"[0-9a-f]{12}", view.version)


def test_spans_without_boxes_and_documents_that_are_not_pdfs_keep_the_text_view(
    tmp_path: Path, document: Document
) -> None:
    plain = Document("notes.txt", "Notes", "notes.txt", "The ferry runs twice a week.")
    as_text = dataclasses.replace(document, doc_id="marrow.txt", source=str(tmp_path / "marrow.txt"))
    pages = images(tmp_path, plain, as_text)
    assert pages.view(citation(plain, "The ferry")) is None
    assert pages.view(citation(as_text, EVIDENCE)) is None


@pytest.mark.parametrize(
    ("change", "note"),
    [
        ("delete", "no longer where it was indexed from"),
        ("fewer pages", "has changed since it was indexed (2 pages now, page 3 indexed)"),
        ("other text", "has changed since it was indexed; update the index"),
        ("not a pdf", "can no longer be read as a PDF"),
    ],
)
def test_a_missing_or_changed_file_gets_a_note_instead_of_its_page(
    tmp_path: Path, pdf, document: Document, change: str, note: str
) -> None:
    path, _ = pdf
    pages = images(tmp_path, document)
    assert isinstance(pages.view(citation(document, EVIDENCE)), PageView)
    if change == "delete":
        path.unlink()
    elif change == "fewer pages":
        write_pdf(path, LIGHTHOUSE_PAGES[:2])
    elif change == "other text":
        write_pdf(path, [LIGHTHOUSE_PAGES[0], ["An entirely different second page.", "Nothing about towers."], []])
    else:
        path.write_bytes(b"%PDF-1.4 truncated")
    if path.exists():
        os.utime(path, ns=(1, 1))  # a stamp of its own, even if size and time happened to match the first
    view = pages.view(citation(document, EVIDENCE))
    assert isinstance(view, PageNote) and note in view.text
    html = render.source_html(answer_of(citation(document, EVIDENCE)), "c1", view)
    assert "Page view unavailable" in html and "<img" not in html and "qa-cited" in html  # the text view stays


def test_a_document_gone_from_the_index_gets_a_note(tmp_path: Path, document: Document) -> None:
    view = images(tmp_path).view(citation(document, EVIDENCE))
    assert isinstance(view, PageNote) and "no longer in the index" in view.text


def test_the_route_serves_indexed_pages_and_caches_them(
    tmp_path: Path, pdf, document: Document, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages = images(tmp_path, document, width_px=400)
    png = pages.png(doc_key("marrow.pdf"), "2")
    assert png.startswith(PNG)
    cached = list((tmp_path / "cache").glob("*.png"))
    assert len(cached) == 1 and cached[0].read_bytes() == png

    def no_rendering(*_):
        raise AssertionError("rendered again")

    monkeypatch.setattr("ui.pages.render_page_png", no_rendering)
    assert pages.png(doc_key("marrow.pdf"), "2") == png  # from the cache
    monkeypatch.undo()
    path, _ = pdf
    write_pdf(path, [*LIGHTHOUSE_PAGES[:1], ["A new second page."], LIGHTHOUSE_PAGES[2]])
    assert pages.png(doc_key("marrow.pdf"), "2") != png  # a changed file is never answered from the cache
    assert len(list((tmp_path / "cache").glob("*.png"))) == 2


def test_a_page_of_another_collection_is_no_such_document(tmp_path: Path, pdf, document: Document) -> None:
    red = images(tmp_path, dataclasses.replace(document, collection="red"), width_px=400)
    assert red.png(doc_key("marrow.pdf"), "1", frozenset({"red"})).startswith(PNG)
    with pytest.raises(PageNotFound, match="no such document"):
        red.png(doc_key("marrow.pdf"), "1", frozenset({"blue"}))


@pytest.mark.parametrize(
    ("key", "page"),
    [
        ("unknown", "1"),
        (doc_key("notes.txt"), "1"),  # in the index, but not a PDF
        ("../files/marrow.pdf", "1"),
        (doc_key("marrow.pdf"), "0"),
        (doc_key("marrow.pdf"), "4"),  # the PDF has 3 pages
        (doc_key("marrow.pdf"), "-1"),
        (doc_key("marrow.pdf"), "1.5"),
        (doc_key("marrow.pdf"), "01"),
        (doc_key("marrow.pdf"), "9999999"),
        (doc_key("marrow.pdf"), "../../etc/passwd"),
    ],
)
def test_the_route_refuses_anything_but_a_page_of_an_indexed_pdf(
    tmp_path: Path, document: Document, key: str, page: str
) -> None:
    plain = Document("notes.txt", "Notes", str(tmp_path / "files" / "marrow.pdf.txt"), "The ferry runs.")
    with pytest.raises(PageNotFound):
        images(tmp_path, document, plain).png(key, page)
    assert not (tmp_path / "cache").exists()


def test_the_route_follows_the_index_and_refuses_a_missing_file(tmp_path: Path, pdf, document: Document) -> None:
    current: list[tuple[Document, ...]] = [(document,)]
    pages = PageImages(lambda key: finder(current[0])(key), tmp_path / "cache")
    assert pages.png(doc_key("marrow.pdf"), "1").startswith(PNG)
    current[0] = ()  # a new generation without the document
    with pytest.raises(PageNotFound):
        pages.png(doc_key("marrow.pdf"), "1")
    current[0] = (document,)
    pdf[0].unlink()
    with pytest.raises(PageNotFound, match="no longer where it was indexed from"):
        pages.png(doc_key("marrow.pdf"), "3")


def test_the_cache_is_pruned_oldest_first(tmp_path: Path, document: Document) -> None:
    pages = images(tmp_path, document, width_px=300)
    first = pages.png(doc_key("marrow.pdf"), "1")
    pages.max_cache_bytes = len(first) + 10  # room for about one page
    oldest = next((tmp_path / "cache").glob("*.png"))
    os.utime(oldest, (1, 1))
    pages.png(doc_key("marrow.pdf"), "2")
    assert not oldest.exists() and len(list((tmp_path / "cache").glob("*.png"))) == 1


def test_the_cache_folder_follows_qa_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QA_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c" / "pages"
    monkeypatch.delenv("QA_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "qa" / "pages"


def test_the_page_view_draws_each_box_in_percent_and_only_on_its_page(document: Document) -> None:
    boxes = (Box(2, 0.1, 0.2, 0.5, 0.23), Box(3, 0.1, 0.05, 0.3, 0.08))
    view = PageView("qa/page/abc/", "v1", 2, 3, boxes)
    parsed = Parsed(render.page_html(view))
    tags = {tag: attrs for tag, attrs in parsed.tags if tag in {"figure", "img"}}
    assert tags["figure"]["data-page"] == "2" and tags["figure"]["data-pages"] == "3"
    assert tags["img"]["src"] == "qa/page/abc/2.png?v=v1"
    drawn = [attrs for tag, attrs in parsed.tags if attrs.get("class") == "qa-box"]
    assert [(d["data-page"], "hidden" in d) for d in drawn] == [("2", False), ("3", True)]
    assert drawn[0]["style"] == "left:10.000%;top:20.000%;width:40.000%;height:3.000%"
    buttons = {attrs["class"]: "disabled" in attrs for tag, attrs in parsed.tags if tag == "button"}
    assert buttons == {"qa-page-prev": False, "qa-page-next": False}
    last = Parsed(render.page_html(dataclasses.replace(view, page=3)))
    buttons = {attrs["class"]: "disabled" in attrs for tag, attrs in last.tags if tag == "button"}
    assert buttons == {"qa-page-prev": False, "qa-page-next": True}


def test_a_note_is_escaped_text() -> None:
    html = render.page_html(PageNote('the file <img src=x onerror="alert(1)">.pdf is gone'))
    assert "<img" not in html and "&#60;img" in html


def test_the_sources_panel_shows_the_text_and_the_page(tmp_path: Path, document: Document) -> None:
    pages = images(tmp_path, document)
    shown = handlers.source_view(answer_of(citation(document, EVIDENCE)), "c1", pages)
    parsed = Parsed(shown.html)
    assert EVIDENCE in "".join(parsed.by_class["qa-cited"])  # the text view, span marked
    sources = [attrs["src"] for tag, attrs in parsed.tags if tag == "img"]
    assert len(sources) == 1 and sources[0].startswith(f"qa/page/{doc_key('marrow.pdf')}/2.png")
    assert handlers.source_view(answer_of(citation(document, EVIDENCE)), "c1").html.count("<img") == 0  # no pages


def test_a_page_view_that_fails_leaves_the_text_view_with_a_note(
    tmp_path: Path, document: Document, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_):
        raise RuntimeError("pdfium fell over")

    monkeypatch.setattr("ui.pages.page_text", broken)
    shown = handlers.source_view(answer_of(citation(document, EVIDENCE)), "c1", images(tmp_path, document))
    assert "Page view unavailable: the page could not be rendered" in shown.html and "qa-cited" in shown.html
    assert "pdfium fell over" not in shown.html and "page view of 'marrow.pdf' failed" in caplog.text


def test_the_page_route_over_http(tmp_path: Path, document: Document) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from ui.app import _serve_pages

    server = FastAPI()
    _serve_pages(server, images(tmp_path, document))
    http = TestClient(server)
    ok = http.get(PAGE_ROUTE.format(doc_key=doc_key("marrow.pdf"), page=2))
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/png" and ok.content.startswith(PNG)
    assert ok.headers["x-content-type-options"] == "nosniff"
    for url in ["/qa/page/unknown/1.png", f"/qa/page/{doc_key('marrow.pdf')}/0.png", "/qa/page/..%2F..%2Fetc/1.png"]:
        refused = http.get(url)
        assert refused.status_code == 404 and refused.text in {"no such page", '{"detail":"Not Found"}'}


def test_the_pdf_reader_boxes_cover_the_quote_on_the_rendered_page(pdf) -> None:
    """The PDF reader's boxes of a quote lie on that quote's glyphs."""
    path, lines = pdf
    (document,) = list(iter_sources([path]))
    assert document.boxes, "the PDF reader gave no character boxes"
    quote = "Agnes Whitlock"
    start = document.text.index(quote)
    (box,) = document.boxes_for(start, start + len(quote))
    line = next(line.box for line in lines if quote in line.text)
    assert box.page == 2 and line.y0 - 0.01 <= box.y0 < box.y1 <= line.y1 + 0.01
    png = render_page_png(path, 2, 1000)
    assert dark_share(png, box) > 0.15 and dark_share(png, blank_like(box)) == 0.0


def test_a_question_about_a_pdf_shows_its_page_in_every_view_of_the_source(
    tmp_path: Path, pdf, fake_embedder: HashingEmbedder
) -> None:
    path, lines = pdf
    build_index(iter([drawn_document(path, lines)]), tmp_path / "idx", fake_embedder, ChunkerSettings())
    engine = Engine(tmp_path / "idx", fake_embedder)
    pages = PageImages(engine.document_by_key, tmp_path / "cache")
    (view,) = handlers.ask(engine, None, "Who designed the lighthouse tower?", 3.0, "extractive", pages)
    assert view.chat.pages is pages and "Agnes Whitlock" in view.chat.answers[0].citations[0].text
    assert '<figure class="qa-page"' in view.panels.source.html
    assert '<figure class="qa-page"' in handlers.choose_source(view.chat, "1:c1").html
    assert '<figure class="qa-page"' in handlers.select_message(view.chat, 1).source.html
    assert pages.png(doc_key("marrow.pdf"), "2").startswith(PNG)


def test_a_page_key_finds_its_document_without_reading_the_others(tmp_path: Path, fake_embedder) -> None:
    """The page route looks one document up by its key (``DocumentHashes.row_of_key``): a large
    index is not parsed whole on the first page view."""
    docs = [Document(f"d{i}.txt", f"Doc {i}", f"d{i}.txt", f"Document number {i} says hello.") for i in range(40)]
    build_index(iter(docs), tmp_path / "idx", fake_embedder, ChunkerSettings())
    engine = Engine(tmp_path / "idx", fake_embedder)
    table = engine.index.documents
    found = engine.document_by_key(doc_key("d17.txt"))
    assert found is not None and found.doc_id == "d17.txt"
    assert table._parse.cache_info().currsize == 1  # that one document alone was parsed
    assert engine.document_by_key(doc_key("missing.txt")) is None
    assert engine.document_by_key("../../etc/passwd") is None
