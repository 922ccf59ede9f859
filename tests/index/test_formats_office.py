"""PowerPoint, Excel, CSV and EPUB files: their text, their pages (slide, sheet, chapter), their
bad variants, and answers cited from them through a normal index build."""

from __future__ import annotations

import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest
from office_files import chapter, make_epub, make_pptx, make_xlsx
from small_corpus import answerer_over

import index.formats.rows as rows
from index.embedding import HashingEmbedder
from index.loaders import DOCUMENT_SUFFIXES, SUPPORTED_SUFFIXES, Skipped, iter_sources
from qa.core.types import Document, DocumentTable, content_hash


def only_document(path: Path) -> Document:
    items = list(iter_sources([path]))
    assert len(items) == 1 and isinstance(items[0], Document), items
    assert items[0].content_hash == content_hash(items[0].text)
    return items[0]


def only_skipped(path: Path) -> Skipped:
    items = list(iter_sources([path]))
    assert len(items) == 1 and isinstance(items[0], Skipped), items
    return items[0]


def page_texts(doc: Document) -> dict[int, str]:
    """Each page's text by number, checking that the spans are ordered and inside the text."""
    assert all(a.end < b.start for a, b in zip(doc.pages, doc.pages[1:]))
    assert all(0 <= span.start < span.end <= len(doc.text) for span in doc.pages)
    return {span.page: doc.text[span.start : span.end] for span in doc.pages}


def test_the_new_suffixes_are_read_and_uploadable() -> None:
    assert {".pptx", ".xlsx", ".csv", ".epub"} <= set(DOCUMENT_SUFFIXES)
    assert set(DOCUMENT_SUFFIXES) == SUPPORTED_SUFFIXES - {".json", ".jsonl"}


# --- pptx -------------------------------------------------------------------------------------


def test_pptx_slides_are_pages_with_their_notes(tmp_path: Path) -> None:
    slides = [
        ("Harbour report", ["Tides rise twice a day", "The pier was rebuilt in 1998."], "Mention the storm."),
        ("", [], ""),  # a blank slide: no text, no span, but the numbering goes on
        ("Fleet", ["Three boats fish from the harbour."], ""),
    ]
    (tmp_path / "talks").mkdir()
    doc = only_document(make_pptx(tmp_path / "talks" / "harbour.pptx", slides))
    assert doc.doc_id == "harbour.pptx" and doc.title == "Harbour report"
    assert page_texts(doc) == {
        1: "Harbour report\n\nTides rise twice a day\n\nThe pier was rebuilt in 1998.\n\nMention the storm.",
        3: "Fleet\n\nThree boats fish from the harbour.",
    }
    assert doc.text == page_texts(doc)[1] + "\n\n" + page_texts(doc)[3]
    assert doc.page_at(doc.text.index("Three boats")) == 3
    assert [d.doc_id for d in iter_sources([tmp_path])] == ["talks/harbour.pptx"]


def test_pptx_tables_groups_and_line_breaks(tmp_path: Path) -> None:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    deck.core_properties.title = "Fleet   list"
    slide = deck.slides.add_slide(deck.slide_layouts[5])  # title only
    slide.shapes.title.text = "Boats"
    table = slide.shapes.add_table(3, 3, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for r, row in enumerate([["Boat", "Length", "Port"], ["Osprey", "12 m", "Cobh"], ["Tern", "9 m", ""]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    table.cell(2, 1).merge(table.cell(2, 2))  # "9 m" spans two columns and is read once
    group = slide.shapes.add_group_shape()
    box = group.shapes.add_textbox(Inches(1), Inches(5), Inches(3), Inches(1))
    box.text_frame.text = "Counted in\vMay."  # a line break inside one paragraph
    deck.save(str(tmp_path / "fleet.pptx"))
    doc = only_document(tmp_path / "fleet.pptx")
    assert doc.title == "Fleet list"
    assert doc.text == "Boats\n\nBoat | Length | Port\n\nOsprey | 12 m | Cobh\n\nTern | 9 m\n\nCounted in May."
    assert page_texts(doc) == {1: doc.text}


def test_pptx_without_text_or_of_another_kind(tmp_path: Path) -> None:
    make_pptx(tmp_path / "blank.pptx", [("", [], ""), ("", [], "")])
    assert only_skipped(tmp_path / "blank.pptx").reason == "no text in PPTX"
    make_xlsx(tmp_path / "sheet.pptx", {"A": [["x"], ["y"]]})  # a workbook with the wrong name
    assert only_skipped(tmp_path / "sheet.pptx").reason.startswith("corrupt PPTX: ")


# --- xlsx -------------------------------------------------------------------------------------


def test_xlsx_rows_become_header_value_passages_and_sheets_pages(tmp_path: Path) -> None:
    make_xlsx(
        tmp_path / "budget.xlsx",
        {
            "Costs": [
                [None, None, None],  # rows before the header are skipped
                ["Item", "Cost", "Paid on"],
                ["Ferry", 120.0, date(2024, 5, 1)],
                [None, None, None],
                ["Bridge\nrepair", 3.5, None, "late"],  # a cell beyond the header keeps its bare value
                ["Pier", "=1+1", datetime(2024, 5, 2, 9, 30)],  # a formula never computed has no value
            ],
            "Empty": [],
            "People": [["Name", "Role"], ["Ana", "keeper"]],
        },
        title="Harbour budget",
    )
    doc = only_document(tmp_path / "budget.xlsx")
    assert doc.title == "Harbour budget"
    assert page_texts(doc) == {
        1: "Costs\n\n"
        "Item: Ferry\nCost: 120\nPaid on: 2024-05-01\n\n"
        "Item: Bridge repair\nCost: 3.5\nlate\n\n"
        "Item: Pier\nPaid on: 2024-05-02 09:30:00",
        3: "People\n\nName: Ana\nRole: keeper",
    }
    assert doc.page_at(doc.text.index("keeper")) == 3


def test_xlsx_header_only_and_empty_workbook(tmp_path: Path) -> None:
    make_xlsx(tmp_path / "header.xlsx", {"Plan": [["Dredge", None, "the channel"]]})
    assert only_document(tmp_path / "header.xlsx").text == "Plan\n\nDredge | the channel"
    make_xlsx(tmp_path / "empty.xlsx", {"A": [], "B": [[None]]})
    assert only_skipped(tmp_path / "empty.xlsx").reason == "no text in XLSX (empty workbook)"


def test_xlsx_size_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_xlsx(tmp_path / "wide.xlsx", {"Data": [["a", "b"], *([[1, 2]] * 30)]})
    monkeypatch.setattr(rows, "MAX_CELLS", 50)
    assert only_skipped(tmp_path / "wide.xlsx").reason == "XLSX too large: more than 50 cells to read"
    monkeypatch.setattr(rows, "MAX_CELLS", 10_000)
    monkeypatch.setattr(rows, "MAX_CHARS", 100)
    assert only_skipped(tmp_path / "wide.xlsx").reason == "XLSX too large: more than 100 characters of text"


def test_xlsx_row_past_the_last_excel_row_is_refused_quickly(tmp_path: Path) -> None:
    make_xlsx(tmp_path / "plain.xlsx", {"Sheet": [["Name"], ["Ana"]]})
    with zipfile.ZipFile(tmp_path / "plain.xlsx") as src, zipfile.ZipFile(tmp_path / "far.xlsx", "w") as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.startswith("xl/worksheets/"):
                data = data.replace(b'r="2"', b'r="2000000000"').replace(b'r="A2"', b'r="A2000000000"')
            out.writestr(info, data)
    reason = only_skipped(tmp_path / "far.xlsx").reason
    assert reason == "corrupt XLSX: sheet 'Sheet' has rows past Excel's last row (1,048,576)"


# --- csv --------------------------------------------------------------------------------------


def test_csv_delimiter_quotes_and_cp1252(tmp_path: Path) -> None:
    raw = 'Name;City;Note\r\nAnna;Zürich;"likes ; semicolons"\r\n\r\nBo;Malmö;"two\r\nlines"\r\n'
    (tmp_path / "people.csv").write_bytes(raw.encode("cp1252"))
    doc = only_document(tmp_path / "people.csv")
    assert doc.text == ("Name: Anna\nCity: Zürich\nNote: likes ; semicolons\n\nName: Bo\nCity: Malmö\nNote: two lines")
    assert (doc.title, doc.pages) == ("people", ())


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("\ufeffa\tb\n1\t2\n".encode(), "a: 1\nb: 2"),  # UTF-8 with a BOM, tabs
        ("a,b\n1,2\n".encode("utf-16"), "a: 1\nb: 2"),  # Excel's "Unicode text"
        (b"word\nharbour\npier\n", "word: harbour\n\nword: pier"),  # one column: no delimiter to sniff
        (b"only,a,header\n", "only | a | header"),
        (b"Name;Value\nA;1,5\nB;2,5\n", "Name: A\nValue: 1,5\n\nName: B\nValue: 2,5"),  # decimal commas
        (b"a,b\n1,x;y\n", "a: 1\nb: x;y"),
    ],
)
def test_csv_encodings_and_shapes(tmp_path: Path, raw: bytes, text: str) -> None:
    (tmp_path / "t.csv").write_bytes(raw)
    assert only_document(tmp_path / "t.csv").text == text


def test_bad_csv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "nul.csv").write_bytes(b"a,b\n" + b"1,2\n" * 5000 + b"3,\x004\n")  # a NUL past the sniffed start
    assert only_skipped(tmp_path / "nul.csv").reason == "binary file"
    (tmp_path / "blank.csv").write_bytes(b" ,\n,,\n")
    assert only_skipped(tmp_path / "blank.csv").reason == "no text in CSV"
    (tmp_path / "huge.csv").write_text('a,b\n1,"' + "x" * 200_000 + '"\n')
    assert only_skipped(tmp_path / "huge.csv").reason.startswith("malformed CSV (line 2): field larger than")
    (tmp_path / "long.csv").write_text("a,b\n" + "1,2\n" * 100)
    monkeypatch.setattr(rows, "MAX_CELLS", 20)
    assert only_skipped(tmp_path / "long.csv").reason == "CSV too large: more than 20 cells to read"


# --- epub -------------------------------------------------------------------------------------

BOOK = [
    ("nav.xhtml", chapter("Contents", '<nav epub:type="toc"><ol><li>Chapter list</li></ol></nav>')),
    ("cover.xhtml", chapter("Cover", '<img src="cover.jpg" alt=""/>')),
    (
        "chapter 2.xhtml",
        chapter("Book", "<header><h1>The Lighthouse</h1></header><p>The keeper lit the lamp at dusk.</p>"),
    ),
    (
        "one.xhtml",
        chapter("Book", "<h1>The Harbour</h1><p>Boats left before dawn.</p><aside>A footnote on boats.</aside>"),
    ),
]


def test_epub_chapters_in_spine_order_are_pages(tmp_path: Path) -> None:
    spine = ["cover.xhtml", "one.xhtml", "chapter 2.xhtml", "nav.xhtml"]
    doc = only_document(make_epub(tmp_path / "coast.epub", BOOK, title="The Coast", spine=spine))
    assert (doc.doc_id, doc.title) == ("coast.epub", "The Coast")
    assert page_texts(doc) == {
        2: "The Harbour\n\nBoats left before dawn.\n\nA footnote on boats.",
        3: "The Lighthouse\n\nThe keeper lit the lamp at dusk.",
    }
    assert doc.text == "\n\n".join(page_texts(doc).values())


def test_epub_without_container_reads_its_only_package(tmp_path: Path) -> None:
    make_epub(tmp_path / "full.epub", BOOK[3:], title="")
    with zipfile.ZipFile(tmp_path / "full.epub") as src, zipfile.ZipFile(tmp_path / "bare.epub", "w") as out:
        for info in src.infolist():
            if info.filename != "META-INF/container.xml":
                out.writestr(info, src.read(info))
    doc = only_document(tmp_path / "bare.epub")
    assert doc.title == "Book" and doc.text.startswith("The Harbour")


def test_bad_epubs(tmp_path: Path) -> None:
    make_epub(tmp_path / "nospine.epub", BOOK, spine=[])
    assert only_skipped(tmp_path / "nospine.epub").reason == (
        "EPUB without a reading order (its package document has no spine)"
    )
    make_epub(tmp_path / "images.epub", BOOK[1:2])
    assert only_skipped(tmp_path / "images.epub").reason == "no text in EPUB"
    with zipfile.ZipFile(tmp_path / "nopackage.epub", "w") as book:
        book.writestr("mimetype", "application/epub+zip")
    assert only_skipped(tmp_path / "nopackage.epub").reason.startswith("not an EPUB: no package document")
    make_epub(tmp_path / "drm.epub", BOOK[3:])
    with zipfile.ZipFile(tmp_path / "drm.epub", "a") as book:
        book.writestr(
            "META-INF/encryption.xml",
            '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
            'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData><enc:CipherData>'
            '<enc:CipherReference URI="OEBPS/one.xhtml"/></enc:CipherData></enc:EncryptedData></encryption>',
        )
    assert only_skipped(tmp_path / "drm.epub").reason == "DRM-protected EPUB (its chapters are encrypted)"
    (tmp_path / "cut.epub").write_bytes((tmp_path / "drm.epub").read_bytes()[:300])
    assert only_skipped(tmp_path / "cut.epub").reason == "corrupt EPUB: damaged or truncated zip archive"


# --- answers ----------------------------------------------------------------------------------


def test_answers_cite_the_slide_sheet_and_chapter(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    make_pptx(
        folder / "talk.pptx",
        [("Welcome", ["Glaciers carve valleys."], ""), ("Volcanoes", ["Pumice floats on water."], "")],
    )
    make_xlsx(folder / "ports.xlsx", {"Notes": [["Note"], ["Dull"]], "Ports": [["Port", "Depth"], ["Cobh", "14"]]})
    (folder / "crew.csv").write_text("Sailor,Rank\nMaeve,captain of the Osprey\n")
    make_epub(folder / "saga.epub", BOOK, spine=["one.xhtml", "chapter 2.xhtml"])
    documents = [item for item in iter_sources([folder]) if isinstance(item, Document)]
    assert len(documents) == 4
    answerer = answerer_over(documents, tmp_path / "idx", fake_embedder)
    for question, doc_id, page, quoted in [
        ("Which stone floats on water?", "talk.pptx", 2, "Pumice"),
        ("What is the depth of the port of Cobh?", "ports.xlsx", 2, "14"),
        ("Who is the captain of the Osprey?", "crew.csv", None, "Maeve"),
        ("When did the keeper light the lamp?", "saga.epub", 2, "dusk"),
    ]:
        answer = answerer.answer(question)
        first = answer.citations[0]
        assert (first.doc_id, first.page) == (doc_id, page), (question, answer.to_json())
        assert quoted in first.text
        answer.verify(DocumentTable(documents))
