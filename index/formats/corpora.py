"""Benchmark corpora that hold many documents in one file: BEIR ``corpus.jsonl`` and SQuAD JSON.

``open_corpus`` recognises the format eagerly (so an unrecognised file is reported before any
document) and returns a stream of documents and ``BadRecord``s: one bad line or article must not
cost the rest of a corpus. ``iter_beir_documents`` / ``iter_squad_documents`` are the strict
variants for evaluation code, where a bad record is an error, not something to skip.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index.formats import short
from qa.core.errors import UnreadableFile, UnsupportedFile
from qa.core.types import Document

UNRECOGNISED = "unrecognised JSON (expected a BEIR corpus.jsonl or SQuAD JSON)"


@dataclass(frozen=True, slots=True)
class BadRecord:
    location: str  # "path:lineno" (BEIR) or "path:data[i]" (SQuAD)
    reason: str


def open_corpus(path: Path, source: str | None = None) -> Iterator[Document | BadRecord]:
    """Documents of a BEIR ``.jsonl`` or SQuAD ``.json`` file; raises UnsupportedFile for any other
    JSON and UnreadableFile for a file that is empty or not valid JSON at all."""
    source = str(path) if source is None else source
    if path.suffix.lower() == ".jsonl":
        _check_beir(path)
        return _beir_records(path, source)
    return _squad_records(_load_squad(path), source)


def iter_beir_documents(path: str | Path) -> Iterator[Document]:
    """One Document per line of a BEIR corpus: id ``_id``, title ``title``, text ``text`` (the
    title is not prepended). Raises UnreadableFile at the first malformed line."""
    path = Path(path)
    _check_beir(path)
    yield from _strict(_beir_records(path, str(path)))


def iter_squad_documents(path: str | Path) -> Iterator[Document]:
    """One Document per SQuAD paragraph (v1.1 or v2.0): id ``"<article title>#<i>"`` with ``i``
    the 0-based paragraph index in its article, title the article title with spaces, text the
    context. Raises UnreadableFile at the first malformed article or paragraph."""
    path = Path(path)
    yield from _strict(_squad_records(_load_squad(path), str(path)))


def _strict(records: Iterator[Document | BadRecord]) -> Iterator[Document]:
    for record in records:
        if isinstance(record, BadRecord):
            raise UnreadableFile(f"{record.location}: {record.reason}")
        yield record


def _check_beir(path: Path) -> None:
    with open(path, "rb") as file:
        for raw in file:
            if raw.strip():
                first = _parse(raw.removeprefix(b"\xef\xbb\xbf"))
                break
        else:
            raise UnreadableFile("empty file")
    if not (isinstance(first, dict) and "_id" in first and "text" in first):
        raise UnsupportedFile(UNRECOGNISED)
    if "title" not in first and path.stem.lower().startswith("queries"):
        # BEIR ships queries.jsonl next to corpus.jsonl in the same shape; indexing a benchmark
        # folder must not turn its questions into documents.
        raise UnsupportedFile("BEIR queries file, not a corpus")


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return None


def _beir_records(path: Path, source: str) -> Iterator[Document | BadRecord]:
    # Read as bytes and decode per line: one badly encoded line must not end the stream.
    with open(path, "rb") as file:
        for lineno, raw in enumerate(file, start=1):
            if lineno == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            if not raw.strip():
                continue
            record = _beir_document(raw, source)
            yield BadRecord(f"{source}:{lineno}", record) if isinstance(record, str) else record


def _beir_document(raw: bytes, source: str) -> Document | str:
    """The line's Document, or the reason it is not one."""
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as error:
        return f"invalid JSON: {error.msg} (column {error.colno})"
    except UnicodeDecodeError:
        return "not UTF-8 text"
    if not isinstance(obj, dict):
        return "not a JSON object"
    doc_id, title, text = obj.get("_id"), obj.get("title"), obj.get("text")
    if isinstance(doc_id, int) and not isinstance(doc_id, bool):
        doc_id = str(doc_id)
    if not isinstance(doc_id, str) or not doc_id:
        return "missing or invalid '_id'"
    if not isinstance(text, str):
        return f"document {doc_id!r}: missing or invalid 'text'"
    if title is not None and not isinstance(title, str):
        return f"document {doc_id!r}: invalid 'title'"
    return Document(doc_id=doc_id, title=title or "", source=source, text=text)


def _load_squad(path: Path) -> list[Any]:
    """The ``data`` list of a SQuAD file."""
    raw = path.read_bytes()
    if not raw.strip():
        raise UnreadableFile("empty file")
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as error:
        raise UnreadableFile(f"invalid JSON: {error.msg} (line {error.lineno})") from error
    except UnicodeDecodeError as error:
        raise UnreadableFile(f"invalid JSON: {short(error)}") from error
    data = obj.get("data") if isinstance(obj, dict) else None
    if not (isinstance(data, list) and data and isinstance(data[0], dict) and "paragraphs" in data[0]):
        raise UnsupportedFile(UNRECOGNISED)
    return data


def _squad_records(data: list[Any], source: str) -> Iterator[Document | BadRecord]:
    for index, article in enumerate(data):
        location = f"{source}:data[{index}]"
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        title = article.get("title") if isinstance(article, dict) else None
        if not isinstance(title, str) or not title or not isinstance(paragraphs, list):
            yield BadRecord(location, "article without a 'title' or 'paragraphs'")
            continue
        for number, paragraph in enumerate(paragraphs):
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            if not isinstance(context, str):
                yield BadRecord(f"{location}.paragraphs[{number}]", "paragraph without a 'context'")
                continue
            yield Document(doc_id=f"{title}#{number}", title=title.replace("_", " "), source=source, text=context)
