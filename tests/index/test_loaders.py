"""Ingestion: every format, every way a file can be bad, folder walking and corpora."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from index.formats.corpora import UNRECOGNISED, iter_beir_documents, iter_squad_documents
from index.loaders import SUPPORTED_SUFFIXES, Skipped, iter_sources
from qa.core.errors import UnreadableFile
from qa.core.types import Document, content_hash

# Committed cuts of SQuAD and SciFact (tests/data/README.md gives their counts).
DATA = Path(__file__).resolve().parents[1] / "data"


def load(*paths: str | Path) -> list[Document | Skipped]:
    items = list(iter_sources([str(p) for p in paths]))
    for item in items:
        if isinstance(item, Document):
            assert item.content_hash == content_hash(item.text)
    return items


def only_document(path: Path) -> Document:
    items = load(path)
    assert len(items) == 1 and isinstance(items[0], Document), items
    return items[0]


def only_skipped(path: Path) -> Skipped:
    items = load(path)
    assert len(items) == 1 and isinstance(items[0], Skipped), items
    return items[0]


def docs(items: list[Document | Skipped]) -> list[Document]:
    return [item for item in items if isinstance(item, Document)]


def skips(items: list[Document | Skipped]) -> list[Skipped]:
    return [item for item in items if isinstance(item, Skipped)]


def make_pdf(path: Path, pages: list[str], title: str | None = None) -> Path:
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path))
    if title is not None:
        pdf.setTitle(title)
    for text in pages:
        pdf.drawString(72, 720, text)
        pdf.showPage()
    pdf.save()
    return path


def test_supported_suffixes() -> None:
    assert {
        *(".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".pptx", ".xlsx", ".csv", ".epub"),
        *(".json", ".jsonl"),
    } == SUPPORTED_SUFFIXES


# --- plain text and markdown ------------------------------------------------------------------


def test_utf8_text_is_kept_exactly(tmp_path: Path) -> None:
    raw = "\ufeff\r\n  Première ligne  \r\nSecond line: naïve café.\r\n"
    (tmp_path / "notes.txt").write_bytes(raw.encode("utf-8"))
    doc = only_document(tmp_path / "notes.txt")
    assert doc.text == raw.removeprefix("\ufeff")  # BOM dropped, \r\n and spaces kept
    assert doc.title == "Première ligne"
    assert doc.doc_id == "notes.txt"
    assert doc.source == str(tmp_path / "notes.txt")
    assert doc.pages == ()


def test_latin1_text_falls_back(tmp_path: Path) -> None:
    (tmp_path / "menu.txt").write_bytes(b"Le caf\xe9 du coin\n")
    doc = only_document(tmp_path / "menu.txt")
    assert doc.text == "Le café du coin\n"
    assert doc.title == "Le café du coin"


def test_utf16_text_with_bom(tmp_path: Path) -> None:
    (tmp_path / "win.txt").write_bytes("Hello from Notepad\r\n".encode("utf-16"))
    assert only_document(tmp_path / "win.txt").text == "Hello from Notepad\r\n"


def test_long_first_line_title_is_clipped(tmp_path: Path) -> None:
    (tmp_path / "long.txt").write_text("word " * 100)
    assert len(only_document(tmp_path / "long.txt").title) == 200


def test_markdown_title_from_heading(tmp_path: Path) -> None:
    text = "Some intro line\n\n```bash\n# not a heading\n```\n\n## Sub\n# Real Title #\n\nBody text.\n"
    (tmp_path / "guide.md").write_text(text)
    doc = only_document(tmp_path / "guide.md")
    assert doc.title == "Real Title"
    assert doc.text == text


def test_markdown_without_heading(tmp_path: Path) -> None:
    (tmp_path / "plain.markdown").write_text("\n\nFirst line here\nmore\n")
    assert only_document(tmp_path / "plain.markdown").title == "First line here"
    (tmp_path / "front.md").write_text("---\ntitle: From Front Matter\n---\nBody only.\n")
    assert only_document(tmp_path / "front.md").title == "From Front Matter"


def test_title_falls_back_to_stem(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text("<html><body><p>Only a paragraph of text.</p></body></html>")
    assert only_document(tmp_path / "page.html").title == "page"


# --- html -------------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html><head><title>Widget Guide</title>
<script>var trackingScriptSecret = 42;</script><style>.hidden { color: red }</style></head>
<body>
<header><div>SiteHeaderBanner</div></header>
<nav><ul><li><a href="/">HomeNavLink</a></li><li><a href="/about">AboutNavLink</a></li></ul></nav>
<article>
  <h1>How widgets work</h1>
  <p>Widgets turn gadgets into gizmos. The process was invented in 1921
     by a clockmaker in Geneva who needed a faster way to assemble watches.</p>
  <p>Each widget has three parts: a spindle, a flange and a sprocket. The sprocket
     is the part that wears out first.</p>
  <table><tr><th>Part</th><th>Life</th></tr><tr><td>sprocket</td><td>2 years</td></tr></table>
</article>
<footer>CopyrightFooterText 2024</footer>
</body></html>
"""
BOILERPLATE = ("trackingScriptSecret", "hidden", "SiteHeaderBanner", "HomeNavLink", "AboutNavLink", "CopyrightFooter")


def test_html_main_text_only(tmp_path: Path) -> None:
    (tmp_path / "guide.html").write_text(PAGE)
    doc = only_document(tmp_path / "guide.html")
    assert doc.title == "Widget Guide"
    assert "Widgets turn gadgets into gizmos." in doc.text
    assert "invented in 1921 by a clockmaker" in doc.text  # source line wrapping is not a break
    assert "sprocket | 2 years" in doc.text
    assert "\n\n" in doc.text  # paragraphs separated by blank lines
    assert "<" not in doc.text
    for word in BOILERPLATE:
        assert word not in doc.text


def test_html_heading_and_paragraphs_are_blocks(tmp_path: Path) -> None:
    (tmp_path / "guide.htm").write_text(PAGE)
    doc = only_document(tmp_path / "guide.htm")
    assert "Widgets turn gadgets into gizmos. The process was invented in 1921 by a clockmaker" in doc.text
    assert doc.text.startswith("How widgets work\n\nWidgets")
    assert doc.text.endswith("Part | Life\n\nsprocket | 2 years")


def test_html_title_from_heading_and_charset(tmp_path: Path) -> None:
    html = '<html><head><meta charset="windows-1252"></head><body><h2>Caf\xe9 notes</h2><p>Text.</p></body></html>'
    (tmp_path / "cafe.html").write_bytes(html.encode("cp1252"))
    assert only_document(tmp_path / "cafe.html").title == "Café notes"


def test_html_without_text(tmp_path: Path) -> None:
    (tmp_path / "blank.html").write_text("<html><head><script>x=1</script></head><body><nav>Menu</nav></body></html>")
    assert only_skipped(tmp_path / "blank.html").reason == "no text in HTML"


# --- pdf --------------------------------------------------------------------------------------


def test_pdf_pages_and_spans(tmp_path: Path) -> None:
    make_pdf(tmp_path / "report.pdf", ["Alpha text on the first page.", "Bravo text on the second page."])
    doc = only_document(tmp_path / "report.pdf")
    assert doc.title == "report"  # ReportLab's "untitled" placeholder is not a title
    assert [span.page for span in doc.pages] == [1, 2]
    first, second = doc.pages
    assert first.start == 0 and second.end == len(doc.text)
    assert doc.text[first.end : second.start] == "\n\n"
    offset = doc.text.index("Bravo")
    assert second.start <= offset < second.end
    assert "Bravo text on the second page." in doc.text[second.start : second.end]
    assert "Alpha text" in doc.text[first.start : first.end]
    assert doc.page_at(offset) == 2
    assert doc.page_at(doc.text.index("Alpha")) == 1


def test_pdf_metadata_title(tmp_path: Path) -> None:
    make_pdf(tmp_path / "t.pdf", ["Some text."], title="Annual Report 2023")
    assert only_document(tmp_path / "t.pdf").title == "Annual Report 2023"


def test_corrupt_pdf(tmp_path: Path) -> None:
    (tmp_path / "broken.pdf").write_bytes(random.Random(7).randbytes(4096))
    assert only_skipped(tmp_path / "broken.pdf").reason.startswith("corrupt PDF: ")


def test_encrypted_pdf(tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    plain = make_pdf(tmp_path / "plain.pdf", ["Top secret plans."])
    writer = PdfWriter(clone_from=PdfReader(plain))
    writer.encrypt("secret", algorithm="AES-128")
    with open(tmp_path / "locked.pdf", "wb") as file:
        writer.write(file)
    assert only_skipped(tmp_path / "locked.pdf").reason == "encrypted PDF"

    # Encrypted against editing only: readable with the empty password.
    writer = PdfWriter(clone_from=PdfReader(plain))
    writer.encrypt("", owner_password="owner")
    with open(tmp_path / "owner-only.pdf", "wb") as file:
        writer.write(file)
    assert "Top secret plans." in only_document(tmp_path / "owner-only.pdf").text


def test_pdf_without_text(tmp_path: Path) -> None:
    make_pdf(tmp_path / "scan.pdf", [""])
    assert only_skipped(tmp_path / "scan.pdf").reason == "no extractable text (scanned PDF?)"


def test_pdf_is_quiet(tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\n" + random.Random(3).randbytes(500))
    load(tmp_path / "broken.pdf")
    assert capsys.readouterr().err == ""
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]


# --- docx -------------------------------------------------------------------------------------


def make_docx(path: Path, title: str = "") -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.add_paragraph("Quarterly summary")
    document.add_paragraph("")
    document.add_paragraph("Sales grew in every region.")
    table = document.add_table(rows=2, cols=2)
    for (row, col), text in {(0, 0): "Region", (0, 1): "Growth", (1, 0): "North", (1, 1): "12%"}.items():
        table.cell(row, col).text = text
    document.add_paragraph("After the table.")
    document.save(str(path))
    return path


def test_docx_paragraphs_and_table(tmp_path: Path) -> None:
    doc = only_document(make_docx(tmp_path / "summary.docx"))
    assert doc.text == "Quarterly summary\nSales grew in every region.\nRegion | Growth\nNorth | 12%\nAfter the table."
    assert doc.title == "Quarterly summary"
    assert only_document(make_docx(tmp_path / "titled.docx", title="Q3 Report")).title == "Q3 Report"


def test_corrupt_docx(tmp_path: Path) -> None:
    (tmp_path / "bad.docx").write_bytes(b"PK\x03\x04 this is not really a zip file")
    assert only_skipped(tmp_path / "bad.docx").reason.startswith("corrupt DOCX: ")


# --- bad files --------------------------------------------------------------------------------


def test_bad_files_are_skipped_with_reasons(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.md").write_text("  \n\t\n")
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "tool.exe").write_bytes(b"MZ\x90\x00")
    (tmp_path / "README").write_text("no extension")
    missing = tmp_path / "missing.txt"
    reasons = {Path(s.path).name: s.reason for s in skips(load(*sorted(tmp_path.iterdir()), missing))}
    assert reasons == {
        "empty.txt": "empty file",
        "blank.md": "empty file",
        "image.txt": "binary file",
        "tool.exe": "unsupported file type '.exe'",
        "README": "unsupported file type (no extension)",
        "missing.txt": "no such file or directory",
    }


def test_reader_crash_does_not_stop_iteration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import index.formats.text as text_format

    def vanished(path: Path, **kwargs: str) -> Document:
        raise FileNotFoundError(2, "No such file or directory")

    (tmp_path / "a.txt").write_text("gone before we read it")
    (tmp_path / "b.md").write_text("# Still here\n")
    (tmp_path / "c.json").write_text('{"not": "a corpus"}')
    monkeypatch.setattr(text_format, "load_text", vanished)
    items = load(tmp_path)
    assert [type(i).__name__ for i in items] == ["Skipped", "Document", "Skipped"]
    assert items[0].reason == "cannot read file: No such file or directory"
    assert items[2].reason == UNRECOGNISED

    monkeypatch.setattr(text_format, "load_text", lambda path, **kwargs: 1 / 0)
    assert load(tmp_path)[0].reason.startswith("failed to read: ZeroDivisionError")


# --- folders and ids --------------------------------------------------------------------------


def test_folder_recursion(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    (root / "guide" / "deep").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / "b.txt").write_text("bee")
    (root / "guide" / "intro.md").write_text("# Intro\nhello")
    (root / "guide" / "deep" / "z.txt").write_text("zed")
    (root / ".hidden.txt").write_text("secret")
    (root / ".git" / "config.txt").write_text("secret")
    (root / "guide" / ".cache.md").write_text("secret")
    (tmp_path / "single.txt").write_text("given directly")

    items = load(root, tmp_path / "single.txt")
    assert all(isinstance(item, Document) for item in items)
    assert [d.doc_id for d in docs(items)] == ["b.txt", "guide/deep/z.txt", "guide/intro.md", "single.txt"]
    assert [d.source for d in docs(items)] == [
        os.path.join(str(root), "b.txt"),
        os.path.join(str(root), "guide/deep/z.txt"),
        os.path.join(str(root), "guide/intro.md"),
        str(tmp_path / "single.txt"),
    ]
    assert load(root, tmp_path / "single.txt") == items  # deterministic


def test_duplicate_ids(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    (tmp_path / "one" / "same.txt").write_text("first")
    (tmp_path / "two" / "same.txt").write_text("second")
    first, second = str(tmp_path / "one" / "same.txt"), str(tmp_path / "two" / "same.txt")
    items = load(first, second, first)
    assert isinstance(items[0], Document) and items[0].text == "first"
    assert items[1] == Skipped(second, f"duplicate document id 'same.txt' (also from {first})")
    assert items[2] == Skipped(first, f"duplicate document id 'same.txt' (also from {first})")


def test_symlink_loop_terminates(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha")
    (root / "sub" / "b.txt").write_text("bravo")
    os.symlink(root, root / "loop")
    os.symlink(root / "sub", root / "sub" / "again")
    os.symlink(root / "sub", root / "alias")  # a link to a folder in the tree: its files once, by real path
    os.symlink(tmp_path / "nowhere.txt", root / "dangling.txt")
    items = load(root)
    assert [d.doc_id for d in docs(items)] == ["a.txt", "sub/b.txt"]
    assert [(Path(s.path).name, s.reason) for s in skips(items)] == [
        ("dangling.txt", "no such file or directory (or a broken link)")
    ]


def test_symlinked_folder_outside_tree_is_followed(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.txt").write_text("outside")
    (tmp_path / "root").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "root" / "linked")
    assert [d.doc_id for d in docs(load(tmp_path / "root"))] == ["linked/x.txt"]


# --- corpora ----------------------------------------------------------------------------------


def test_beir_corpus_with_bad_line(tmp_path: Path) -> None:
    lines = [
        json.dumps({"_id": "d1", "title": "First", "text": "Text one."}),
        "{not json",
        "",
        json.dumps({"_id": 2, "title": "", "text": "Text two."}),
        json.dumps({"_id": "d3", "title": "No text"}),
        json.dumps({"_id": "d4", "text": "No title field."}),
    ]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(lines) + "\n")
    items = load(corpus)
    assert [(d.doc_id, d.title, d.text, d.source) for d in docs(items)] == [
        ("d1", "First", "Text one.", str(corpus)),
        ("2", "", "Text two.", str(corpus)),
        ("d4", "", "No title field.", str(corpus)),
    ]
    bad = skips(items)
    assert [s.path for s in bad] == [f"{corpus}:2", f"{corpus}:5"]
    assert bad[0].reason.startswith("invalid JSON")
    assert "'text'" in bad[1].reason

    with pytest.raises(UnreadableFile, match=r"corpus\.jsonl:2"):
        list(iter_beir_documents(corpus))


def test_beir_queries_file_is_not_a_corpus(tmp_path: Path) -> None:
    (tmp_path / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "what?", "metadata": {}}) + "\n")
    assert only_skipped(tmp_path / "queries.jsonl").reason == "BEIR queries file, not a corpus"


def test_squad_json(tmp_path: Path) -> None:
    squad = {
        "version": "v2.0",
        "data": [
            {
                "title": "Space_Race",
                "paragraphs": [
                    {"context": "Sputnik launched in 1957.", "qas": []},
                    {"context": "Apollo 11 landed in 1969.", "qas": [{"id": "q", "is_impossible": True}]},
                ],
            },
            {"title": "Tea", "paragraphs": [{"context": "Tea comes from Camellia sinensis."}]},
        ],
    }
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(squad))
    items = load(path)
    assert [(d.doc_id, d.title, d.text) for d in docs(items)] == [
        ("Space_Race#0", "Space Race", "Sputnik launched in 1957."),
        ("Space_Race#1", "Space Race", "Apollo 11 landed in 1969."),
        ("Tea#0", "Tea", "Tea comes from Camellia sinensis."),
    ]
    assert list(iter_squad_documents(path)) == docs(items)


def test_unrecognised_json(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text('{"name": "x", "data": [1, 2]}')
    (tmp_path / "rows.jsonl").write_text('{"id": 1, "body": "x"}\n')
    (tmp_path / "broken.json").write_text('{"data": [')
    reasons = {Path(s.path).name: s.reason for s in skips(load(tmp_path))}
    assert reasons["package.json"] == UNRECOGNISED
    assert reasons["rows.jsonl"] == UNRECOGNISED
    assert reasons["broken.json"].startswith("invalid JSON")


def test_real_squad_dev() -> None:
    path = DATA / "squad" / "dev-v1.1.json"
    items = load(path)
    assert not skips(items)
    documents = docs(items)
    assert len(documents) == 233
    ids = [d.doc_id for d in documents]
    assert len(set(ids)) == 233
    assert {"Normans#0", "Normans#1", "Amazon_rainforest#0"} <= set(ids)
    assert next(d for d in documents if d.doc_id == "Amazon_rainforest#0").title == "Amazon rainforest"
    contexts = [p["context"] for a in json.loads(path.read_text())["data"] for p in a["paragraphs"]]
    assert [d.text for d in documents] == contexts
    assert {d.source for d in documents} == {str(path)}
    assert list(iter_squad_documents(path)) == documents


def test_real_scifact_folder() -> None:
    folder = DATA / "scifact"
    items = load(folder)
    assert len(docs(items)) == 400
    assert {Path(s.path).name: s.reason for s in skips(items)} == {
        "queries.jsonl": "BEIR queries file, not a corpus",
        "train.tsv": "unsupported file type '.tsv'",
    }


def test_a_document_read_from_a_relative_path_names_its_file_absolutely(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server started in another folder (and its page view) must still find the file."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("Relative paths are resolved once, when read.\n")
    monkeypatch.chdir(tmp_path)
    (doc,) = list(iter_sources([Path("docs")]))
    assert doc.doc_id == "notes.txt" and doc.source == str(tmp_path / "docs" / "notes.txt")
    (skipped,) = list(iter_sources([Path("docs/missing.txt")]))
    assert skipped.path == "docs/missing.txt"  # a reason names the path as the user gave it
