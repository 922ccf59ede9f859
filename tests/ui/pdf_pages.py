"""Small PDFs drawn with reportlab for the page-view tests, and where each line was drawn.

``write_pdf`` returns every line with its page and its rectangle in fractions of the page (origin
top-left, the contract of ``Box``), computed from the font metrics; ``drawn_document`` turns the
lines into a Document with one TextBox per line, as a PDF reader with character boxes would.
``dark_share`` measures how much of a rectangle of a rendered page is ink.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from qa.core.types import Box, Document, PageSpan, TextBox

FONT, SIZE = "Helvetica", 12
LEFT, TOP, LEADING = 72, 100, 18  # points: left margin, first baseline from the top, line spacing

# Three pages; the evidence of the browser test's question is on page 2.
LIGHTHOUSE_PAGES = [
    [
        "Marrow Island lies nine miles off the northern coast.",
        "A ferry crosses to the island twice a week in summer.",
        "Most visitors come for the seabird colonies on the cliffs.",
    ],
    [
        "The Marrow Island lighthouse was built in 1874.",
        "The engineer Agnes Whitlock designed the lighthouse tower.",
        "Its lamp was first lit on the first of March 1875.",
    ],
    [
        "The harbour was rebuilt after the great storm of 1953.",
        "Fishing boats still land their catch at the old quay.",
    ],
]


@dataclass(frozen=True)
class Line:
    page: int
    text: str
    box: Box


def write_pdf(path: Path, pages: list[list[str]] = LIGHTHOUSE_PAGES) -> list[Line]:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase.pdfmetrics import getAscentDescent, stringWidth
    from reportlab.pdfgen import canvas

    width, height = A4
    ascent, descent = getAscentDescent(FONT, SIZE)  # descent is negative
    pdf = canvas.Canvas(str(path), pagesize=A4)
    pdf.setTitle("Marrow Island")
    lines = []
    for number, texts in enumerate(pages, start=1):
        pdf.setFont(FONT, SIZE)
        for i, text in enumerate(texts):
            baseline = TOP + i * LEADING  # from the top of the page
            pdf.drawString(LEFT, height - baseline, text)
            x1 = LEFT + stringWidth(text, FONT, SIZE)
            box = Box(number, LEFT / width, (baseline - ascent) / height, x1 / width, (baseline - descent) / height)
            lines.append(Line(number, text, box))
        pdf.showPage()
    pdf.save()
    return lines


def drawn_document(path: Path, lines: list[Line], doc_id: str = "marrow.pdf") -> Document:
    """The document a reader with character boxes would make of ``path``: a page per page, a run per line."""
    text, pages, runs = "", [], []
    for number in sorted({line.page for line in lines}):
        if text:
            text += "\n\n"
        start = len(text)
        for line in (line for line in lines if line.page == number):
            if len(text) > start:
                text += "\n"
            runs.append(TextBox(len(text), len(text) + len(line.text), line.box))
            text += line.text
        pages.append(PageSpan(number, start, len(text)))
    return Document(doc_id, "Marrow Island", str(path), text, tuple(pages), boxes=tuple(runs))


def dark_share(png: bytes, box: Box) -> float:
    """The share of pixels inside ``box`` (fractions of the picture) that are dark: ink, not paper."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    w, h = image.size
    crop = image.crop((round(box.x0 * w), round(box.y0 * h), round(box.x1 * w), round(box.y1 * h)))
    pixels = crop.tobytes()  # one byte a pixel in mode L
    return sum(1 for p in pixels if p < 128) / max(1, len(pixels))


def blank_like(box: Box) -> Box:
    """A rectangle of ``box``'s size low on its page, where these PDFs draw nothing."""
    return Box(box.page, box.x0, 0.85, box.x1, 0.85 + box.y1 - box.y0)
