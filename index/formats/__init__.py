"""Readers for the file formats we index, one module per format.

Each reader takes a path plus the ``doc_id`` and ``source`` chosen by ``index.loaders`` and
returns a :class:`qa.core.types.Document`, or raises ``UnreadableFile`` with a short reason a person
can act on. A heavy library (pypdfium2, python-docx, python-pptx, openpyxl) is imported only by its own
module, so importing this package costs nothing and one missing library disables one format.
"""

from __future__ import annotations

TITLE_MAX_CHARS = 200


def clip_title(value: str) -> str:
    """A title on one line, whitespace collapsed, at most ``TITLE_MAX_CHARS`` characters."""
    return " ".join(value.split())[:TITLE_MAX_CHARS]


def first_line(text: str) -> str:
    """The first non-blank line of ``text`` as a title, or ""."""
    for line in text.splitlines():
        if line.strip():
            return clip_title(line)
    return ""


def short(error: BaseException, limit: int = 120) -> str:
    """An exception as a one-line detail for a skip reason (library messages can be long)."""
    detail = " ".join(str(error).split()) or type(error).__name__
    return detail if len(detail) <= limit else detail[: limit - 1] + "…"
