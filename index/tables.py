"""A generation's per-document tables, read through memory maps rather than into memory.

- ``DocumentTable``: the stored documents (``documents.jsonl``), one JSON line each, found by
  byte offset (``documents.offsets``) and parsed only when asked for, the last few kept parsed.
  Opening one maps the file: nothing is read, so start-up does not grow with the corpus.
- ``DocumentHashes``: per document id, the hash of what decides whether an update may keep the
  document as it is (its text, title and pages: ``document_state``) and its row, in a table
  sorted by a hash of the id (``documents.hashes.npy``). An update and the demo start-up look
  documents up in it by binary search instead of reading every document.

Generations of format 1 have neither file; ``DocumentTable.scan`` and
``DocumentHashes.of_documents`` rebuild them in memory from ``documents.jsonl``.
"""

from __future__ import annotations

import hashlib
import json
import mmap
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import overload

import numpy as np

from index.layout import document_from_json
from qa.core.errors import IndexMismatch
from qa.core.types import DEFAULT_COLLECTION, Document

HASH_DTYPE = np.dtype([("key", "S32"), ("state", "S32"), ("row", "<i8")])
_PARSED = 64  # documents kept parsed: a search and its answer read a handful, some of them large


def document_key(doc_id: str) -> bytes:
    """The table key of a document id: 128 bits of its SHA-256, in hex (no NUL bytes to trip ``S32``)."""
    return hashlib.sha256(doc_id.encode("utf-8", "surrogatepass")).hexdigest()[:32].encode("ascii")


def document_state(doc: Document) -> bytes:
    """What an update compares to keep a document as it is: its text (by hash), title, pages and
    collection (named only when not the default, so the states of older generations still match)."""
    pages = [[p.page, p.start, p.end, p.navigation] for p in doc.pages]
    state: list = [doc.content_hash, doc.title, pages]
    if doc.collection != DEFAULT_COLLECTION:
        state.append(doc.collection)
    blob = json.dumps(state, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:32].encode("ascii")


class DocumentHashes:
    """Sorted ``(key, state, row)`` rows, one per document id."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = table

    @classmethod
    def of(cls, entries: dict[bytes, tuple[bytes, int]]) -> DocumentHashes:
        """From ``key -> (state, row)``."""
        table = np.zeros(len(entries), dtype=HASH_DTYPE)
        if entries:
            table["key"] = list(entries)
            table["state"] = [state for state, _ in entries.values()]
            table["row"] = [row for _, row in entries.values()]
        return cls(np.sort(table, order="key"))

    @classmethod
    def of_documents(cls, documents: Iterable[Document]) -> DocumentHashes:
        """Computed from the documents themselves (a format-1 generation, which has no table)."""
        return cls.of({document_key(d.doc_id): (document_state(d), row) for row, d in enumerate(documents)})

    def save(self, path: Path) -> None:
        np.save(path, self.table)

    @classmethod
    def load(cls, path: Path) -> DocumentHashes:
        table = np.load(path, mmap_mode="r")
        if table.dtype != HASH_DTYPE:
            raise IndexMismatch(f"{path} holds {table.dtype} rows, not {HASH_DTYPE}")
        return cls(table)

    def __len__(self) -> int:
        return len(self.table)

    def _find(self, doc_id: str) -> int | None:
        return self._find_key(document_key(doc_id))

    def _find_key(self, key: bytes) -> int | None:
        wanted = np.array(key, dtype="S32")
        at = int(np.searchsorted(self.table["key"], wanted))
        return at if at < len(self.table) and self.table["key"][at] == wanted else None

    def row_of_key(self, key: bytes) -> int | None:
        """The row of the document whose ``document_key`` is ``key`` (a page URL names it so), or None."""
        at = self._find_key(key) if len(key) == 32 else None
        return None if at is None else int(self.table["row"][at])

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and self._find(doc_id) is not None

    def row(self, doc_id: str) -> int | None:
        """The document's row in ``documents.jsonl`` (and in the chunk table's ``doc``), or None."""
        at = self._find(doc_id)
        return None if at is None else int(self.table["row"][at])

    def state(self, doc_id: str) -> bytes | None:
        at = self._find(doc_id)
        return None if at is None else bytes(self.table["state"][at])

    def rows_except(self, doc_ids: Iterable[str]) -> np.ndarray:
        """Rows of the documents whose ids are not in ``doc_ids``, ascending."""
        keys = np.array([document_key(d) for d in doc_ids], dtype="S32")
        return np.sort(self.table["row"][~np.isin(self.table["key"], keys)])


class DocumentTable(Sequence[Document]):
    """The documents of a generation in row order, each parsed from its mapped line when asked for."""

    def __init__(self, data: bytes | mmap.mmap, offsets: np.ndarray) -> None:
        if len(offsets) == 0 or int(offsets[-1]) != len(data):
            raise IndexMismatch(f"document offsets end at {offsets[-1] if len(offsets) else None}, not {len(data)}")
        self._data = data
        self._offsets = offsets
        self._parse = lru_cache(maxsize=_PARSED)(self._parse_row)

    @classmethod
    def open(cls, path: Path, offsets: Path) -> DocumentTable:
        return cls(_map(path), map_array(offsets, np.dtype("<i8")))

    @classmethod
    def scan(cls, path: Path) -> DocumentTable:
        """Without an offsets file (format 1): the line ends found in one pass over the mapped bytes."""
        data = _map(path)
        ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n")) + 1 if len(data) else np.zeros(0)
        return cls(data, np.r_[0, ends].astype(np.int64))

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @overload
    def __getitem__(self, row: int) -> Document: ...
    @overload
    def __getitem__(self, row: slice) -> Sequence[Document]: ...
    def __getitem__(self, row: int | slice) -> Document | Sequence[Document]:
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        row = int(row) + (len(self) if row < 0 else 0)
        if not 0 <= row < len(self):
            raise IndexError(f"document row {row} out of range 0..{len(self) - 1}")
        return self._parse(row)

    def __iter__(self) -> Iterator[Document]:
        for row in range(len(self)):
            yield self._parse_row(row)  # not cached: a pass over all of them would only churn the cache

    def _parse_row(self, row: int) -> Document:
        line = self._data[int(self._offsets[row]) : int(self._offsets[row + 1])]
        return document_from_json(json.loads(line))


def _map(path: Path) -> bytes | mmap.mmap:
    """``path`` mapped read-only (the mapping outlives the file's unlinking); b"" when it is empty."""
    with open(path, "rb") as handle:
        if handle.seek(0, 2) == 0:
            return b""
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


def map_array(path: Path, dtype: np.dtype | type, width: int | None = None) -> np.ndarray:
    """A raw little-endian array file mapped read-only, as rows of ``width`` items when given;
    IndexMismatch when its size is not a whole number of rows."""
    dtype = np.dtype(dtype)
    row = dtype.itemsize * (width or 1)
    size = path.stat().st_size
    if size % row:
        raise IndexMismatch(f"{path}: {size} bytes is not a whole number of {row}-byte rows")
    if size == 0:  # an empty file cannot be mapped
        return np.zeros((0, width) if width else 0, dtype=dtype)
    array = np.memmap(path, dtype=dtype, mode="r")
    return array.reshape(-1, width) if width else array
