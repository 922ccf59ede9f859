"""Scanned PDFs: pages without a text layer are read by Tesseract, with word boxes, and a clear
reason when OCR is missing, fails, or would cost too much. The scans are made here: the pages of
a drawn manual rendered to images and put back into a PDF as pictures only."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from test_pdf_layout import HEADER, PAGE_H, PAGE_W, _covers, _find_drawn, check_boxes, make_manual

from index.formats import ocr, pdf
from index.formats.pdf import NO_OCR, PageSkip, read_pdf
from index.formats.pdf_lines import Line, Word
from index.loaders import Skipped, iter_sources
from qa.core.types import Document


def require_tesseract() -> None:
    """Skip without Tesseract, unless QA_REQUIRE_OCR=1 (set by .ci/run) makes that a failure."""
    if shutil.which("tesseract") is None:
        reason = f"tesseract is not installed ({ocr.INSTALL_HINT}; scripts/setup.sh test installs it)"
        if os.environ.get("QA_REQUIRE_OCR") == "1":
            pytest.fail(f"QA_REQUIRE_OCR=1 but {reason}")
        pytest.skip(reason)


def scan(source: Path, target: Path, keep_text: tuple[int, ...] = (), dpi: int = 200, stamp: str = "") -> Path:
    """``source`` with every page (but those in ``keep_text``, 1-based) replaced by a picture of
    it, with ``stamp`` written over the picture as a scanner or fax machine may."""
    import pypdfium2
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    original = pypdfium2.PdfDocument(str(source))
    out = canvas.Canvas(str(target), pagesize=(PAGE_W, PAGE_H))
    for number, page in enumerate(original, start=1):
        image = page.render(scale=dpi / 72).to_pil()
        if number in keep_text:
            out.setFont("Helvetica", 11)
            out.drawString(72, 400, f"Page {number} keeps its text layer.")
        else:
            out.drawImage(ImageReader(image), 0, 0, PAGE_W, PAGE_H)
            if stamp:
                out.setFont("Helvetica", 8)
                out.drawString(72, 20, stamp)
        out.showPage()
    out.save()
    original.close()
    return target


@pytest.fixture(scope="module")
def manual_pdf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    folder = tmp_path_factory.mktemp("ocr")
    drawn = make_manual(folder / "manual.pdf")
    return folder / "manual.pdf", drawn


@pytest.fixture(scope="module")
def scanned_manual(manual_pdf: tuple[Path, list]) -> tuple[Document, list]:
    require_tesseract()
    path, drawn = manual_pdf
    scanned = scan(path, path.with_name("scanned.pdf"))
    items = list(iter_sources([scanned]))
    assert len(items) == 1 and isinstance(items[0], Document), items
    return items[0], drawn


def test_a_scanned_pdf_reads_like_its_text_pdf(scanned_manual: tuple[Document, list]) -> None:
    doc, _ = scanned_manual
    assert "stable identifier that never changes" in doc.text
    assert "the cold vault, so silent damage" in doc.text
    assert "Recovery copies a record back from the cold tier." in doc.text
    assert HEADER.split()[0] not in doc.text
    assert not [block for block in doc.text.split("\n\n") if block.strip().isdigit()]


def test_ocr_text_keeps_its_pages(scanned_manual: tuple[Document, list]) -> None:
    doc, _ = scanned_manual
    assert [(span.page, span.navigation) for span in doc.pages] == [(1, True), (2, False), (3, False), (4, False)]
    assert doc.page_at(doc.text.index("identifier")) == 2
    assert doc.page_at(doc.text.index("Storage tiers are")) == 3
    assert doc.page_at(doc.text.index("Recovery copies")) == 4


def test_ocr_boxes_lie_on_the_drawn_words(scanned_manual: tuple[Document, list]) -> None:
    doc, drawn = scanned_manual
    check_boxes(doc)
    quotes = {"carries a stable": ["carries", "a", "stable"], "public register.": ["public", "register."]}
    for quote, words in quotes.items():
        start = doc.text.index(quote)
        boxes = doc.boxes_for(start, start + len(quote))
        for target in _find_drawn(drawn, words):
            assert any(_covers(box, target, slack=4.0) for box in boxes), (target, boxes)


def test_without_tesseract_a_scanned_pdf_is_skipped_with_the_fix(
    manual_pdf: tuple[Path, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ocr.shutil, "which", lambda name: None)
    scanned = scan(manual_pdf[0], tmp_path / "scanned.pdf", dpi=72)
    (item,) = iter_sources([scanned])
    assert isinstance(item, Skipped)
    assert item.reason == NO_OCR
    assert item.reason == "scanned PDF: no text layer and OCR is not installed (apt-get install tesseract-ocr)"


def test_without_tesseract_the_text_pages_are_kept_and_the_others_named(
    manual_pdf: tuple[Path, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ocr.shutil, "which", lambda name: None)
    mixed = scan(manual_pdf[0], tmp_path / "mixed.pdf", keep_text=(2,), dpi=72)
    read = read_pdf(mixed, doc_id="mixed.pdf", source=str(mixed))
    assert read.document.text == "Page 2 keeps its text layer."
    assert [(span.page, span.start, span.end) for span in read.document.pages] == [
        (1, 0, 0),
        (2, 0, 28),
        (3, 28, 28),
        (4, 28, 28),
    ]
    assert read.skipped == (PageSkip((1, 3, 4), "scanned, and OCR is not installed (apt-get install tesseract-ocr)"),)
    assert read.skipped[0].where == "pages 1, 3-4"
    # Through the loader the pages left out are listed like a skipped file, after the document.
    document, skipped = iter_sources([mixed])
    assert isinstance(document, Document) and document.text == "Page 2 keeps its text layer."
    assert skipped == Skipped(
        f"{mixed}:pages 1, 3-4", "not indexed: scanned, and OCR is not installed (apt-get install tesseract-ocr)"
    )


def test_a_scan_stamped_with_a_few_words_is_still_read_by_ocr(
    manual_pdf: tuple[Path, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stamped = scan(manual_pdf[0], tmp_path / "stamped.pdf", dpi=72, stamp="Received by fax on 2026-12-01")
    monkeypatch.setattr(ocr.shutil, "which", lambda name: None)
    (item,) = iter_sources([stamped])
    assert isinstance(item, Skipped) and item.reason == NO_OCR

    read_pages: list[int] = []

    def fake_ocr(image: bytes, dpi: int) -> tuple[Line, ...]:
        read_pages.append(dpi)
        return (Line.of((Word("Read", 72.0, 300.0, 100.0, 312.0, 10.0),)),)

    monkeypatch.setattr(ocr.shutil, "which", lambda name: "/usr/bin/tesseract")
    monkeypatch.setattr(ocr, "read_image", fake_ocr)
    document = read_pdf(stamped, doc_id="stamped.pdf", source=str(stamped)).document
    assert read_pages == [pdf.OCR_DPI] * 4
    assert document.text.split() == ["Read"] * 4  # OCR's text replaces the stamp's


def test_pages_over_the_ocr_limit_are_named(
    manual_pdf: tuple[Path, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pdf, "MAX_OCR_PAGES", 0)
    monkeypatch.setattr(ocr.shutil, "which", lambda name: "/usr/bin/tesseract")
    mixed = scan(manual_pdf[0], tmp_path / "mixed.pdf", keep_text=(1,), dpi=72)
    read = read_pdf(mixed, doc_id="mixed.pdf", source=str(mixed))
    assert read.skipped == (PageSkip((2, 3, 4), "scanned, and OCR reads at most 0 pages of a PDF"),)


def test_a_failing_ocr_names_its_page(
    manual_pdf: tuple[Path, list], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_tesseract()
    monkeypatch.setattr(ocr, "LANGUAGE", "no-such-language")
    mixed = scan(manual_pdf[0], tmp_path / "mixed.pdf", keep_text=(1, 2, 3), dpi=72)
    read = read_pdf(mixed, doc_id="mixed.pdf", source=str(mixed))
    (skip,) = read.skipped
    assert skip.pages == (4,) and skip.reason.startswith("OCR failed (tesseract exit"), skip


def test_tesseract_tsv_becomes_lines_in_points() -> None:
    rows = [
        "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext",
        "1\t1\t0\t0\t0\t0\t0\t0\t2550\t3300\t-1\t",
        "4\t1\t1\t1\t1\t0\t300\t300\t900\t50\t-1\t",
        "5\t1\t1\t1\t1\t1\t300\t300\t200\t50\t96.5\tHello",
        "5\t1\t1\t1\t1\t2\t540\t310\t300\t40\t91.0\tworld",
        "5\t1\t1\t1\t1\t3\t900\t330\t10\t10\t12.0\t~",  # a speck
        "5\t1\t1\t1\t2\t1\t300\t400\t200\t50\t95.0\tagain",
    ]
    first, second = ocr.parse_tsv(rows, 72 / 300)
    assert [w.text for w in first.words] == ["Hello", "world"] and [w.text for w in second.words] == ["again"]
    hello = first.words[0]
    assert (hello.x0, hello.y0, hello.x1) == pytest.approx((72.0, 72.0, 120.0))
    assert first.words[1].y0 == hello.y0 and first.words[1].y1 == hello.y1  # one band for the line


@pytest.mark.parametrize(
    ("question", "quote", "page"),
    [
        ("What does recovery copy back?", "Recovery copies a record back from the cold tier.", 4),
        ("What does every record carry?", "stable identifier that never changes", 2),
    ],
)
def test_a_question_about_a_scanned_pdf_is_answered_from_the_right_page(
    scanned_manual: tuple[Document, list], tmp_path: Path, fake_embedder, question: str, quote: str, page: int
) -> None:
    """The OCR'd text is searched, cited and drawn like a text PDF's: the citation holds the
    sentence, names the page it is on and carries boxes on that page."""
    from index.build import build_index
    from qa.engine import Engine

    doc, _ = scanned_manual
    build_index(iter([doc]), tmp_path / "idx", fake_embedder)
    answer = Engine(tmp_path / "idx", fake_embedder).ask(question)
    assert not answer.abstained and answer.citations, answer.text
    (citation,) = answer.citations
    assert quote in citation.text and citation.page == page
    assert doc.text[citation.start : citation.end] == citation.text
    assert citation.boxes and {box.page for box in citation.boxes} == {page}
