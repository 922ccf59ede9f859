"""Small PPTX, XLSX, CSV and EPUB files written in a test, good and bad ones.

``office_corpus`` adds one good file of each kind and every kind of bad one to a folder; the
bad-input tests (tests/index/test_lifecycle_bad_input.py) index it with the rest of their corpus.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Sequence
from pathlib import Path

OFFICE_GOOD = {"deck.pptx", "ledger.xlsx", "tides.csv", "novel.epub"}
OFFICE_BAD = {
    "cut.pptx": "corrupt PPTX: damaged or truncated zip archive",
    "notes.pptx": "not a PPTX file (not a zip archive)",
    "bomb.xlsx": "XLSX unpacks to 1,024 MB, over the limit of 512 MB",
    "locked.xlsx": "password-protected XLSX",
    "blank.xlsx": "no text in XLSX (empty workbook)",
    "junk.csv": "binary file",
    "nul.csv": "binary file",
    "nospine.epub": "EPUB without a reading order (its package document has no spine)",
}


def make_pptx(path: Path, slides: Sequence[tuple[str, Sequence[str], str]], title: str | None = None) -> Path:
    """A deck of ``(title, bullet paragraphs, notes)`` slides; an all-empty tuple is a blank slide."""
    from pptx import Presentation

    deck = Presentation()
    if title is not None:
        deck.core_properties.title = title
    for heading, bullets, notes in slides:
        if not (heading or bullets or notes):
            deck.slides.add_slide(deck.slide_layouts[6])  # blank layout: no placeholders
            continue
        slide = deck.slides.add_slide(deck.slide_layouts[1])  # title and content
        slide.shapes.title.text = heading
        body = slide.placeholders[1].text_frame
        for number, bullet in enumerate(bullets):
            (body.paragraphs[0] if number == 0 else body.add_paragraph()).text = bullet
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    deck.save(str(path))
    return path


def make_xlsx(path: Path, sheets: dict[str, Sequence[Sequence[object]]], title: str | None = None) -> Path:
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    if title is not None:
        workbook.properties.title = title
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
    workbook.save(str(path))
    return path


def chapter(title: str, body: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n'
        f'<html xmlns="http://www.w3.org/1999/xhtml"><head><title>{title}</title></head>\n<body>{body}</body></html>'
    )


def make_epub(
    path: Path,
    chapters: Sequence[tuple[str, str]],
    title: str = "A Book",
    spine: Sequence[str] | None = None,
    folder: str = "OEBPS",
) -> Path:
    """An EPUB of ``(file name, XHTML)`` chapters; ``spine`` lists file names in reading order
    (default: as given, ``[]`` for a package without a spine)."""
    order = [name for name, _ in chapters] if spine is None else list(spine)
    items = "\n".join(
        f'<item id="c{i}" href="{name.replace(" ", "%20")}" media-type="application/xhtml+xml"/>'
        for i, (name, _) in enumerate(chapters)
    )
    ids = {name: f"c{i}" for i, (name, _) in enumerate(chapters)}
    refs = "".join(f'<itemref idref="{ids[name]}"/>' for name in order)
    spine_xml = f'<spine toc="ncx">{refs}</spine>' if spine != [] else ""
    opf = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f'<dc:identifier id="id">urn:uuid:1</dc:identifier><dc:title>{title}</dc:title></metadata>'
        f"<manifest>{items}</manifest>{spine_xml}</package>"
    )
    container = (
        '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
        f'<rootfiles><rootfile full-path="{folder}/content.opf" media-type="application/oebps-package+xml"/>'
        "</rootfiles></container>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")  # stored, first
        book.writestr("META-INF/container.xml", container)
        book.writestr(f"{folder}/content.opf", opf)
        for name, xhtml in chapters:
            book.writestr(f"{folder}/{name}", xhtml)
    return path


def declare_huge_size(data: bytes, size: int = 2**30) -> bytes:
    """The zip ``data`` with its first member's uncompressed size in the central directory set to
    ``size``, as a zip bomb declares it (the data itself stays small)."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    out[at + 24 : at + 28] = struct.pack("<I", size)
    return bytes(out)


def password_protected_xlsx(path: Path) -> Path:
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = make_xlsx(path.with_suffix(".tmp"), {"Secret": [["Plan"], ["Attack at dawn"]]})
    out = io.BytesIO()
    with open(plain, "rb") as file:
        OOXMLFile(file).encrypt("secret", out)
    plain.unlink()
    path.write_bytes(out.getvalue())
    return path


def office_corpus(folder: Path) -> None:
    """``OFFICE_GOOD`` and ``OFFICE_BAD`` in ``folder``."""
    make_pptx(folder / "deck.pptx", [("Lighthouses", ["The lamp is lit at dusk."], "Mention the keeper.")])
    make_xlsx(folder / "ledger.xlsx", {"Boats": [["Boat", "Port"], ["Osprey", "Galway"]]})
    (folder / "tides.csv").write_text("place,tide\nCobh,high at noon\n")
    make_epub(folder / "novel.epub", [("one.xhtml", chapter("One", "<p>The moor was silent under snow.</p>"))])
    whole = make_pptx(folder / "whole.tmp", [("Cut", ["This deck was cut short."], "")]).read_bytes()
    (folder / "whole.tmp").unlink()
    (folder / "cut.pptx").write_bytes(whole[: len(whole) // 2])
    (folder / "notes.pptx").write_text("Just some text saved with the wrong name.")
    make_xlsx(folder / "bomb.tmp", {"Zeros": [["Count"], [0]]})
    (folder / "bomb.xlsx").write_bytes(declare_huge_size((folder / "bomb.tmp").read_bytes()))
    (folder / "bomb.tmp").unlink()
    password_protected_xlsx(folder / "locked.xlsx")
    make_xlsx(folder / "blank.xlsx", {"Sheet1": [], "Sheet2": [[None, None]]})
    (folder / "junk.csv").write_bytes(bytes(range(1, 256)) * 40)  # no NUL byte: decodes as Latin-1
    (folder / "nul.csv").write_bytes(b"name,value\nab\x00\x00cd,1\n" * 10)
    make_epub(folder / "nospine.epub", [("one.xhtml", chapter("One", "<p>Lost.</p>"))], spine=[])
