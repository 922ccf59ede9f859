"""Rows of a table (a spreadsheet or a CSV file) as text: one passage per row, "header: value" lines.

The first row with any value is the header. Every later row becomes its cells as
``header: value`` lines (empty cells left out, a cell under an empty header as its bare value),
and rows are separated by blank lines, so each row is a passage of its own that names what its
values mean. A table with only a header row keeps it as one line, cells separated by " | ".

``RowBudget`` bounds the work one file may cost: a sheet can declare a million rows with no
cells, or one cell in its last column of every row, and a short header repeated on every row
multiplies the text. Over budget the whole file is refused with the reason, rather than cut
silently.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence

from qa.core.errors import UnreadableFile

# Cells visited, empty ones included (a row without cells counts as one): about ten seconds of
# reading. Excel's own sheet is at most 1,048,576 rows of 16,384 columns.
MAX_CELLS = 10_000_000
# Characters of text made from one file: the 50 MB text file of the bad-input tests indexes
# with bounded memory.
MAX_CHARS = 50_000_000
ROW_SEPARATOR = "\n\n"


class RowBudget:
    """Cells and characters still allowed for one file; raises UnreadableFile when spent."""

    def __init__(self, kind: str) -> None:
        self.kind = kind  # "XLSX" or "CSV", for the reason
        self.cells = MAX_CELLS
        self.chars = MAX_CHARS

    def spend(self, *, cells: int = 0, chars: int = 0) -> None:
        self.cells -= cells
        self.chars -= chars
        if self.cells < 0:
            raise UnreadableFile(f"{self.kind} too large: more than {MAX_CELLS:,} cells to read")
        if self.chars < 0:
            raise UnreadableFile(f"{self.kind} too large: more than {MAX_CHARS:,} characters of text")


def rows_text(rows: Iterable[Sequence[object]], budget: RowBudget) -> str:
    """The passages of a table's rows joined by blank lines, or "" when no cell has a value."""
    header: list[str] | None = None
    passages: list[str] = []
    for row in rows:
        budget.spend(cells=max(len(row), 1))  # before reading them: a row may be one huge line
        cells = [cell_text(value) for value in row]
        if header is None:
            if any(cells):
                header = cells
            continue
        if passage := "\n".join(_line(header, column, value) for column, value in enumerate(cells) if value):
            budget.spend(chars=len(passage) + len(ROW_SEPARATOR))
            passages.append(passage)
    if header is not None and not passages:
        passages.append(" | ".join(value for value in header if value))
    return ROW_SEPARATOR.join(passages)


def _line(header: list[str], column: int, value: str) -> str:
    name = header[column] if column < len(header) else ""
    return f"{name}: {value}" if name else value


def cell_text(value: object) -> str:
    """A cell's value on one line: whitespace collapsed, whole floats without ".0", dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, datetime.datetime):
        return value.date().isoformat() if value.time() == datetime.time() else value.isoformat(sep=" ")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return " ".join(str(value).split())
