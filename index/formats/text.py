"""Plain text and Markdown. The text is kept exactly as decoded (``\\r\\n`` included, nothing
stripped) because citations are character offsets into it."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from index.formats import clip_title, first_line
from qa.core.errors import UnreadableFile
from qa.core.types import Document

_SNIFF_BYTES = 8192

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_H1 = re.compile(r"^ {0,3}#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(?:```|~~~)")


def decode_text(data: bytes) -> str:
    """Decode file bytes as text: UTF-16 with a BOM, UTF-8, Windows-1252, or Latin-1 (never fails).

    Raises UnreadableFile("binary file") when NUL bytes show it is not text.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Windows editors save "Unicode" text as UTF-16; its NUL bytes are not a sign of binary.
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise UnreadableFile("binary file") from None
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise UnreadableFile("binary file")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _read(path: Path) -> str:
    text = decode_text(path.read_bytes())
    if not text.strip():
        raise UnreadableFile("empty file")
    return text


def load_text(path: Path, *, doc_id: str, source: str) -> Document:
    text = _read(path)
    return Document(doc_id=doc_id, title=first_line(text) or path.stem, source=source, text=text)


def load_markdown(path: Path, *, doc_id: str, source: str) -> Document:
    text = _read(path)
    return Document(doc_id=doc_id, title=markdown_title(text) or path.stem, source=source, text=text)


def markdown_title(text: str) -> str:
    """First ``# `` heading outside code fences, else a front-matter ``title:``, else the first line.

    Front matter is skipped so that a file starting with ``---`` is not titled "---".
    """
    body, front_title = text, ""
    match = _FRONT_MATTER.match(text)
    if match:
        body = text[match.end() :]
        for line in match.group(1).splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip().lower() == "title":
                front_title = value.strip().strip("\"'")
                break
    in_fence = False
    for line in body.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (heading := _H1.match(line)):
            return clip_title(heading.group(1))
    return clip_title(front_title) or first_line(body)
