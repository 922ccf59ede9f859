"""PDF text as the document reads: paragraphs, hyphenation, running headers and page numbers,
table-of-contents pages, and the box of every word, checked on PDFs drawn here with known words
at known places."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.chunking import ChunkerSettings, chunk_document
from index.formats.pdf import read_pdf
from index.formats.pdf_clean import drop_running_lines, is_navigation
from index.formats.pdf_layout import lay_out
from index.formats.pdf_lines import Line, PageLines, Word
from index.loaders import Skipped, iter_sources
from qa.core.types import Box, Document

PAGE_W, PAGE_H = 612.0, 792.0
FONT, SIZE, LEADING = "Helvetica", 11, 14
LEFT, WIDTH = 72.0, 400.0
HEADER = "Acme Field Manual"


@dataclass(frozen=True)
class Drawn:
    """Where reportlab drew a word: page (1-based) and a box in points from the top-left."""

    page: int
    text: str
    x0: float
    y0: float
    x1: float
    y1: float


# Lines of each body page; "" is a paragraph gap, a leading ">" an indented first line. Every
# line but a paragraph's last is justified to WIDTH, as a typesetter would.
BODY = {
    2: [
        "Every record in the archive carries a stable iden-",
        "tifier that never changes when the record moves.",
        "",
        "Records move between well-known storage tiers as they",
        "age, and each tier keeps its own copy of the well-",
        "known checksum list for every record it holds.",
        ">The retention clock starts on the day a record is",
        "first written and stops only when the owner releases",
        "it to the public register.",
    ],
    3: [
        "Storage tiers are checked every night by a sampling",
        "job that reads one record in a thousand and compares",
        "its checksum with the copy that is kept in the cold",
    ],
    4: [
        "vault, so silent damage is found within a week.",
        "",
        "Recovery copies a record back from the cold tier.",
    ],
}
TOC = [("1 Introduction", "1"), ("2 Storage tiers", "2"), ("3 Checks", "2"), ("4 Recovery", "3"), ("5 Index", "4")]


def make_manual(path: Path) -> list[Drawn]:
    """A four-page manual: a contents page, then body pages under a running header with the
    printed page number, and a bare page number at the foot of every page."""
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=(PAGE_W, PAGE_H))
    drawn: list[Drawn] = []
    pdf.setFont("Helvetica-Bold", 16)
    pdf.drawString(LEFT, 700, "Contents")
    pdf.setFont(FONT, SIZE)
    for i, (title, number) in enumerate(TOC):
        y = 670 - i * LEADING
        pdf.drawString(LEFT, y, title + " " + " ".join(["."] * 40))
        pdf.drawRightString(LEFT + WIDTH, y, number)
    pdf.drawCentredString(PAGE_W / 2, 40, "i")
    pdf.showPage()
    for page, lines in BODY.items():
        pdf.setFont(FONT, 9)
        pdf.drawString(LEFT, 750, HEADER)
        pdf.drawRightString(LEFT + WIDTH, 750, f"Chapter 1: Basics {page - 1}")
        pdf.drawCentredString(PAGE_W / 2, 40, str(page - 1))
        y = 700.0
        for n, line in enumerate(lines):
            if not line:
                y -= LEADING
                continue
            last = n + 1 == len(lines) or not lines[n + 1] or lines[n + 1].startswith(">")
            indent = 18.0 if line.startswith(">") else 0.0
            words = line.lstrip(">").split(" ")
            natural = stringWidth(" ".join(words), FONT, SIZE)
            spacing = 0.0 if last else (WIDTH - indent - natural) / (len(words) - 1)
            text = pdf.beginText(LEFT + indent, y)
            text.setFont(FONT, SIZE)
            text.setWordSpace(spacing)
            text.textLine(" ".join(words))
            pdf.drawText(text)
            x = LEFT + indent
            for word in words:
                width = stringWidth(word, FONT, SIZE)
                drawn.append(Drawn(page, word, x, PAGE_H - y - 0.75 * SIZE, x + width, PAGE_H - y + 0.2 * SIZE))
                x += width + stringWidth(" ", FONT, SIZE) + spacing
            y -= LEADING
        pdf.showPage()
    pdf.save()
    return drawn


@pytest.fixture(scope="module")
def manual(tmp_path_factory: pytest.TempPathFactory) -> tuple[Document, list[Drawn]]:
    path = tmp_path_factory.mktemp("pdf") / "manual.pdf"
    drawn = make_manual(path)
    items = list(iter_sources([path]))
    assert len(items) == 1 and isinstance(items[0], Document), items
    return items[0], drawn


def paragraphs(doc: Document, page: int) -> list[str]:
    span = doc.pages[page - 1]
    return doc.text[span.start : span.end].split("\n\n")


def test_wrapped_lines_become_whole_paragraphs(manual: tuple[Document, list[Drawn]]) -> None:
    doc, _ = manual
    assert paragraphs(doc, 2) == [
        "Every record in the archive carries a stable identifier that never changes when the record moves.",
        "Records move between well-known storage tiers as they age, and each tier keeps its own copy of the "
        "well-known checksum list for every record it holds.",
        "The retention clock starts on the day a record is first written and stops only when the owner "
        "releases it to the public register.",
    ]


def test_a_sentence_runs_on_across_a_page_break(manual: tuple[Document, list[Drawn]]) -> None:
    doc, _ = manual
    sentence = "compares its checksum with the copy that is kept in the cold vault, so silent damage"
    assert sentence in doc.text
    assert doc.page_at(doc.text.index("cold vault")) == 3
    assert doc.page_at(doc.text.index("vault,")) == 4
    assert paragraphs(doc, 4)[-1] == "Recovery copies a record back from the cold tier."


def test_running_headers_and_page_numbers_are_gone(manual: tuple[Document, list[Drawn]]) -> None:
    doc, _ = manual
    assert "Acme" not in doc.text and "Chapter 1" not in doc.text
    blocks = [block.strip() for block in doc.text.split("\n\n")]
    assert not [block for block in blocks if block.isdigit() or block == "i"]
    for chunk in chunk_document(doc, ChunkerSettings(max_tokens=24, overlap_tokens=4)):
        assert "Acme" not in chunk.text and "Basics" not in chunk.text
        assert not any(word.isdigit() for word in chunk.text.split())


def test_the_contents_page_is_navigation_and_never_chunked(manual: tuple[Document, list[Drawn]]) -> None:
    doc, _ = manual
    assert [(span.page, span.navigation) for span in doc.pages] == [(1, True), (2, False), (3, False), (4, False)]
    contents = doc.pages[0]
    assert doc.text[contents.start : contents.end].startswith("Contents")
    chunks = chunk_document(doc, ChunkerSettings(max_tokens=24, overlap_tokens=4))
    assert chunks and all(chunk.start >= contents.end for chunk in chunks)


def test_page_spans_cover_the_text_in_order(manual: tuple[Document, list[Drawn]]) -> None:
    doc, _ = manual
    assert doc.pages[0].start == 0 and doc.pages[-1].end == len(doc.text)
    for before, after in zip(doc.pages, doc.pages[1:]):
        assert before.end <= after.start
        assert doc.text[before.end : after.start] in ("\n\n", " ")
    assert doc.page_at(doc.text.index("identifier")) == 2
    assert doc.page_at(doc.text.index("Storage tiers are")) == 3


@pytest.mark.parametrize(
    ("quote", "words"),
    [
        ("stable identifier", ["stable", "iden-", "tifier"]),
        ("well-known checksum list", ["well-", "known", "checksum", "list"]),
        ("public register.", ["public", "register."]),
        ("cold vault,", ["cold", "vault,"]),
    ],
)
def test_boxes_of_a_quote_lie_on_its_drawn_words(
    manual: tuple[Document, list[Drawn]], quote: str, words: list[str]
) -> None:
    doc, drawn = manual
    start = doc.text.index(quote)
    boxes = doc.boxes_for(start, start + len(quote))
    targets = _find_drawn(drawn, words)
    for target in targets:
        assert any(_covers(box, target) for box in boxes), (target, boxes)
    for box in boxes:  # and nothing far from them
        assert any(_overlaps(box, target) for target in targets), (box, targets)


def test_every_box_is_a_word_on_its_page(manual: tuple[Document, list[Drawn]]) -> None:
    check_boxes(manual[0])


def check_boxes(doc: Document) -> None:
    """Every run holds non-blank text without surrounding spaces, lies within its page, on the
    page its characters belong to, and runs are ordered and disjoint."""
    assert doc.boxes
    previous_end = 0
    for run in doc.boxes:
        text = doc.text[run.start : run.end]
        assert text and text == text.strip() and "\n" not in text, run
        assert run.start >= previous_end
        previous_end = run.end
        box = run.box
        assert 0.0 <= box.x0 <= box.x1 <= 1.0 and 0.0 <= box.y0 <= box.y1 <= 1.0, run
        assert box.page == doc.page_at(run.start)


def _find_drawn(drawn: list[Drawn], words: list[str]) -> list[Drawn]:
    texts = [d.text for d in drawn]
    for i in range(len(drawn) - len(words) + 1):
        if texts[i : i + len(words)] == words:
            return drawn[i : i + len(words)]
    raise AssertionError(f"{words} were not drawn")


def _covers(box: Box, target: Drawn, slack: float = 2.0) -> bool:
    """``box`` lies on ``target`` (points), within ``slack`` points at either end."""
    x0, x1 = box.x0 * PAGE_W, box.x1 * PAGE_W
    y0, y1 = box.y0 * PAGE_H, box.y1 * PAGE_H
    vertical = min(y1, target.y1) - max(y0, target.y0) > 0.5 * (target.y1 - target.y0)
    inside = x0 <= target.x0 + slack and x1 >= target.x1 - slack
    return box.page == target.page and vertical and inside


def _overlaps(box: Box, target: Drawn) -> bool:
    x0, x1 = box.x0 * PAGE_W, box.x1 * PAGE_W
    y0, y1 = box.y0 * PAGE_H, box.y1 * PAGE_H
    return (
        box.page == target.page and min(x1, target.x1) > max(x0, target.x0) and min(y1, target.y1) > max(y0, target.y0)
    )


# --- shown page: rotation and crop box ---------------------------------------------------------


def test_boxes_follow_page_rotation_and_crop_box(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    path = tmp_path / "turned.pdf"
    pdf = canvas.Canvas(str(path), pagesize=(PAGE_W, PAGE_H))
    # Page 1: reportlab writes a landscape media box (792 x 612) turned a quarter clockwise by
    # /Rotate, so it is shown as a 612 x 792 page; the words, drawn turned the other way in the
    # page's own space, read level on it with their baseline at (72, 100) from the top-left.
    pdf.setPageRotation(90)
    pdf.translate(PAGE_W, 0)
    pdf.rotate(90)
    pdf.setFont(FONT, 20)
    pdf.drawString(72, PAGE_W - 100, "Landscape survey results")
    pdf.showPage()
    pdf.setPageRotation(0)
    # Page 2 is cropped by 100 points on the left and 92 at the top: the shown page is 512 x 700.
    pdf.setCropBox((100, 0, PAGE_W, PAGE_H - 92))
    pdf.setFont(FONT, 20)
    pdf.drawString(200, PAGE_H - 92 - 100, "Cropped margin notes")
    pdf.showPage()
    pdf.save()

    doc = read_pdf(path, doc_id="turned.pdf", source=str(path)).document
    assert doc.text == "Landscape survey results\n\nCropped margin notes"
    (turned,) = doc.boxes_for(0, len("Landscape"))
    assert turned.page == 1
    assert turned.x0 == pytest.approx(72 / 612, abs=0.01) and turned.y1 == pytest.approx(104 / 792, abs=0.01)
    start = doc.text.index("Cropped")
    (cropped,) = doc.boxes_for(start, start + len("Cropped"))
    assert cropped.page == 2
    assert cropped.x0 == pytest.approx(100 / 512, abs=0.01) and cropped.y1 == pytest.approx(104 / 700, abs=0.01)
    check_boxes(doc)


# --- the rules on lines made by hand ----------------------------------------------------------


def line(text: str, y: float, x: float = 72.0, height: float = 12.0, char: float = 6.0) -> Line:
    words, at = [], x
    for word in text.split():
        words.append(Word(word, at, y, at + char * len(word), y + height, 0.85 * height))
        at += char * (len(word) + 1)
    return Line.of(tuple(words))


def page(*lines: Line) -> PageLines:
    return PageLines(tuple(lines), PAGE_W, PAGE_H)


def test_a_line_end_hyphen_is_dropped_unless_the_document_spells_the_word_with_it() -> None:
    # Each line is full: the next line's first word would not have fitted at its end.
    body = [
        line("the so-called well-known ports of a server are well-", 100),
        line("known to every admin on the network, and a proper co-", 114),
        line("operation of the daemons is needed for a low-", 128),
        line("numbered port to be opened by a user process.", 142),
    ]
    assert lay_out([page(*body)]).text == (
        "the so-called well-known ports of a server are well-known to every admin on the network, and a proper "
        "cooperation of the daemons is needed for a lownumbered port to be opened by a user process."
    )


def test_bare_page_numbers_arabic_and_roman_are_dropped_only_at_the_edges() -> None:
    pages = [page(line("Preface text here.", 100), line(number, 760)) for number in ("iv", "- 5 -", "Page 6 of 9", "7")]
    kept = drop_running_lines(pages)
    assert [[ln.text for ln in p.lines] for p in kept] == [["Preface text here."]] * 4
    middle = drop_running_lines([page(line("Table 3", 100), line("42", 400), line("end", 414))])
    assert [ln.text for ln in middle[0].lines] == ["Table 3", "42", "end"]


def test_index_pages_are_navigation_but_prose_is_not() -> None:
    index = page(
        *[line(t, 100 + 14 * i) for i, t in enumerate(["Index", "apt, 37", "apt-get, 12, 40-42", "dpkg, 5", "tar, 9"])]
    )
    prose = page(
        *[
            line(t, 100 + 14 * i)
            for i, t in enumerate(
                ["In 1999 the team had 12", "people and 3 servers,", "all in one room", "of about 40"]
            )
        ]
    )
    assert is_navigation(index) and not is_navigation(prose)


def test_a_monospaced_line_is_one_box_run() -> None:
    laid = lay_out([page(line("int main ( void ) { return 0 ; }", 100))])
    assert len(laid.boxes) == 1 and laid.text[laid.boxes[0].start : laid.boxes[0].end] == laid.text


def test_a_page_with_only_a_header_has_an_empty_span() -> None:
    pages = [page(line(HEADER, 30), line(f"Body text of page {n}.", 100)) for n in range(1, 4)]
    pages.insert(2, page(line(HEADER, 30)))
    laid = lay_out(pages)
    assert HEADER not in laid.text
    empty = laid.pages[2]
    assert empty.start == empty.end and laid.text.count("Body text of page") == 3


def test_the_reader_keeps_what_no_rule_drops(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    path = tmp_path / "note.pdf"
    pdf = canvas.Canvas(str(path))
    pdf.drawString(72, 720, "A single page note with 2 numbers: 40 and 41.")
    pdf.showPage()
    pdf.save()
    items = list(iter_sources([path]))
    assert not [item for item in items if isinstance(item, Skipped)]
    assert items[0].text == "A single page note with 2 numbers: 40 and 41."


# --- property: whatever the layout, offsets and boxes stay exact --------------------------------

_WORDS = st.text(alphabet="abcdefgXYZ0123456789-.,_/", min_size=1, max_size=9)


@st.composite
def laid_pages(draw: st.DrawFn) -> list[PageLines]:
    pages = []
    for _ in range(draw(st.integers(1, 4))):
        lines, y = [], draw(st.floats(10, 60))
        for _ in range(draw(st.integers(0, 12))):
            words = draw(st.lists(_WORDS, min_size=1, max_size=8))
            size = draw(st.sampled_from([9.0, 10.0, 14.0]))
            x = draw(st.floats(0, 300))
            lines.append(line(" ".join(words), y, x=x, height=1.2 * size, char=0.5 * size))
            y += draw(st.floats(0, 40))
        pages.append(page(*lines))
    return pages


@settings(max_examples=150, deadline=None)
@given(laid_pages())
def test_every_word_keeps_a_box_and_every_box_its_text(pages: list[PageLines]) -> None:
    laid = lay_out(pages)
    assert [span.page for span in laid.pages] == list(range(1, len(pages) + 1))
    assert all(a.end <= b.start for a, b in zip(laid.pages, laid.pages[1:]))
    covered = set()
    for run in laid.boxes:
        text = laid.text[run.start : run.end]
        assert text and text == text.strip() and "\n" not in text
        assert 0 <= run.box.x0 <= run.box.x1 <= 1 and 0 <= run.box.y0 <= run.box.y1 <= 1
        span = laid.pages[run.box.page - 1]
        assert span.start <= run.start and run.end <= span.end
        covered.update(range(run.start, run.end))
    assert {i for i, char in enumerate(laid.text) if not char.isspace()} <= covered
