"""CSV files via the standard library: each row as "header: value" lines (index.formats.rows).

The text is decoded like a plain text file (UTF-8 with or without a BOM, UTF-16 with a BOM, else
Windows-1252 or Latin-1) and the delimiter is guessed from the start of the file among
``, ; tab |``; a file with one column falls back to commas. Fields are quoted with ``"``, as
Excel and most tools write them. A CSV has no pages.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections import Counter
from pathlib import Path

from index.formats import short
from index.formats.rows import RowBudget, rows_text
from index.formats.text import decode_text
from qa.core.errors import UnreadableFile
from qa.core.types import Document

_SNIFF_CHARS = 64 * 1024
_DELIMITERS = ",;\t|"
# Share of control characters (other than tab and line breaks) above which "text" is binary
# junk that happened to decode, e.g. as Latin-1, which decodes any bytes.
_MAX_CONTROL_SHARE = 0.01


def load_csv(path: Path, *, doc_id: str, source: str) -> Document:
    text = decode_text(path.read_bytes())
    if not text.strip():
        raise UnreadableFile("empty file")
    if "\x00" in text or _control_share(text[:_SNIFF_CHARS]) > _MAX_CONTROL_SHARE:
        raise UnreadableFile("binary file")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text[:_SNIFF_CHARS]))
    try:
        body = rows_text(reader, RowBudget("CSV"))
    except csv.Error as error:
        raise UnreadableFile(f"malformed CSV (line {reader.line_num}): {short(error)}") from error
    if not body:
        raise UnreadableFile("no text in CSV")
    return Document(doc_id=doc_id, title=path.stem, source=source, text=body)


def _delimiter(sample: str) -> str:
    """The candidate that splits the sample's rows most consistently into two or more fields.

    Parsing with each candidate (rather than csv.Sniffer, which gives up on a quoted field with
    spaces or a blank line) lets quotes hide delimiters inside fields; ties go to the comma.
    """
    if len(sample) == _SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # a cut last line would count as a short row
    best, best_score = ",", (0.0, 0)
    for candidate in _DELIMITERS:
        try:
            widths = [len(row) for row in csv.reader(io.StringIO(sample, newline=""), delimiter=candidate) if any(row)]
        except csv.Error:
            continue
        if not widths:
            continue
        ((width, rows),) = Counter(widths).most_common(1)  # the most common number of fields
        score = (rows / len(widths), width)
        if width > 1 and score > best_score:
            best, best_score = candidate, score
    return best


def _control_share(sample: str) -> float:
    controls = sum(1 for char in sample if unicodedata.category(char) == "Cc" and char not in "\t\n\r\f\v")
    return controls / max(len(sample), 1)
