"""Text of a page image through Tesseract, with the box of every word.

Tesseract is called as the ``tesseract`` program (Debian's ``tesseract-ocr``), not through a
Python binding: its TSV output has each word's box and confidence, and a missing program only
costs the pages that need it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable

from index.formats.pdf_lines import Line, Word
from qa.core.errors import UnreadableFile

INSTALL_HINT = "apt-get install tesseract-ocr"
LANGUAGE = "eng"
PAGE_TIMEOUT_S = 180
_NOISE_CONFIDENCE = 30.0  # below this, a word with no letter or digit is a speck, not text


def tesseract() -> str | None:
    """The path of the ``tesseract`` program, or None when OCR is not installed."""
    return shutil.which("tesseract")


def read_image(image: bytes, dpi: int) -> tuple[Line, ...]:
    """The lines of a page image (any format Tesseract reads; PGM is the cheapest to make), in
    points from the image's top-left corner. UnreadableFile when Tesseract fails."""
    program = tesseract()
    if program is None:
        raise UnreadableFile(f"OCR is not installed ({INSTALL_HINT})")
    # One thread: OCR runs beside the embedder on few cores, and threads barely speed up a page.
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    command = [program, "stdin", "stdout", "-l", LANGUAGE, "--dpi", str(dpi), "tsv"]
    try:
        done = subprocess.run(command, input=image, capture_output=True, env=env, timeout=PAGE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as error:
        raise UnreadableFile(f"OCR took over {PAGE_TIMEOUT_S} s on a page") from error
    except OSError as error:
        raise UnreadableFile(f"OCR could not start: {error.strerror or error}") from error
    if done.returncode != 0:
        detail = " ".join(done.stderr.decode("utf-8", "replace").split())[:120]
        raise UnreadableFile(f"OCR failed (tesseract exit {done.returncode}: {detail})")
    return parse_tsv(done.stdout.decode("utf-8", "replace").splitlines(), 72.0 / dpi)


def parse_tsv(rows: Iterable[str], scale: float) -> tuple[Line, ...]:
    """Words of Tesseract's TSV grouped by its own lines; pixel boxes times ``scale``."""
    lines: dict[tuple[str, str, str, str], list[Word]] = {}
    for row in rows:
        cells = row.split("\t")
        if len(cells) != 12 or cells[0] != "5":
            continue  # the header, and the page, block, paragraph and line rows
        text = cells[11].strip()
        try:
            left, top, width, height = (float(cell) for cell in cells[6:10])
            confidence = float(cells[10])
        except ValueError:
            continue
        if not text or (confidence < _NOISE_CONFIDENCE and not any(c.isalnum() for c in text)):
            continue
        word = Word(text, left * scale, top * scale, (left + width) * scale, (top + height) * scale, 0.0)
        lines.setdefault((cells[1], cells[2], cells[3], cells[4]), []).append(word)
    heights = sorted(max(w.y1 for w in words) - min(w.y0 for w in words) for words in lines.values())
    usual = heights[len(heights) // 2] if heights else 0.0
    return tuple(_banded(words, usual) for words in lines.values())


def _banded(words: list[Word], usual: float) -> Line:
    """A line whose words share one band from its top, of the page's usual line height unless the
    line is clearly taller or shorter (a heading, a footnote). Tesseract's boxes are tight to the
    glyphs, so a line without descenders would otherwise stand higher and look smaller than one
    with them, and the paragraph rules would see gaps and size changes that are not there."""
    top, bottom = min(w.y0 for w in words), max(w.y1 for w in words)
    height = usual if 0.7 * usual <= bottom - top <= 1.4 * usual else bottom - top
    return Line.of(tuple(Word(w.text, w.x0, top, w.x1, top + height, 0.8 * height) for w in words))
