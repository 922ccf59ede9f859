"""The on-disk index: generations published atomically, and a manifest checked on load.

Layout of an index directory::

    CURRENT                      name of the published generation (replaced by rename)
    generations/<name>/
        manifest.json            format version, embedder, chunker, documents, counts, times
        documents.jsonl          one stored Document a line (citations are checked against it)
        chunks.npy               chunk id, document row, start, end, tokens
        dense.faiss              vectors under the chunk ids
        bm25/                    BM25 rows aligned with chunks.npy

Chunk ids are 64-bit integers handed out from a counter kept in the manifest, never
reused, so that a later update can add and delete documents by id without renumbering.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from index.chunking import ChunkerSettings
from index.dense import DenseIndex
from index.embedding import Embedder
from index.sparse import SparseIndex
from qa.errors import IndexMismatch, IndexNotFound
from qa.types import Document, PageSpan

FORMAT_VERSION = 1
CHUNK_DTYPE = np.dtype([("id", "<i8"), ("doc", "<i4"), ("start", "<i4"), ("end", "<i4"), ("tokens", "<i4")])
_KEEP_GENERATIONS = 2


@dataclass(frozen=True, slots=True)
class Manifest:
    format_version: int
    embedder: dict
    chunker: dict
    index_text: str
    documents: dict[str, str]  # doc_id -> content hash
    counts: dict[str, int]
    created_at: str
    next_chunk_id: int
    skipped: tuple[dict, ...] = ()

    def to_json(self) -> dict:
        return {
            "format_version": self.format_version,
            "embedder": self.embedder,
            "chunker": self.chunker,
            "index_text": self.index_text,
            "counts": self.counts,
            "created_at": self.created_at,
            "next_chunk_id": self.next_chunk_id,
            "skipped": list(self.skipped),
            "documents": self.documents,
        }

    @classmethod
    def from_json(cls, data: dict) -> Manifest:
        return cls(
            format_version=data["format_version"],
            embedder=data["embedder"],
            chunker=data["chunker"],
            index_text=data["index_text"],
            documents=data["documents"],
            counts=data["counts"],
            created_at=data["created_at"],
            next_chunk_id=data["next_chunk_id"],
            skipped=tuple(data.get("skipped", ())),
        )

    def check(self, embedder: Embedder | None = None, chunker: ChunkerSettings | None = None) -> None:
        """Raise IndexMismatch, naming both values, when the index was made differently."""
        if self.format_version != FORMAT_VERSION:
            raise IndexMismatch(
                f"index format {self.format_version} is not the supported format {FORMAT_VERSION}; rebuild it"
            )
        if embedder is not None:
            for key, ours in (("name", embedder.name), ("fingerprint", embedder.fingerprint)):
                if self.embedder.get(key) != ours:
                    raise IndexMismatch(
                        f"index embedder {key} {self.embedder.get(key)!r} differs from {ours!r}; rebuild the index"
                    )
        if chunker is not None and self.chunker != chunker.to_json():
            raise IndexMismatch(f"index chunker settings {self.chunker} differ from {chunker.to_json()}; rebuild it")


def document_to_json(doc: Document) -> dict:
    return {
        "doc_id": doc.doc_id,
        "title": doc.title,
        "source": doc.source,
        "content_hash": doc.content_hash,
        "pages": [[p.page, p.start, p.end] for p in doc.pages],
        "text": doc.text,
    }


def document_from_json(data: dict) -> Document:
    pages = tuple(PageSpan(page, start, end) for page, start, end in data.get("pages", ()))
    return Document(data["doc_id"], data["title"], data["source"], data["text"], pages, data["content_hash"])


@dataclass(frozen=True)
class StoredIndex:
    """A loaded generation: documents, chunk table and both retrieval indexes."""

    path: Path
    manifest: Manifest
    documents: tuple[Document, ...]
    chunks: np.ndarray  # CHUNK_DTYPE rows, aligned with the BM25 rows
    dense: DenseIndex
    sparse: SparseIndex

    def document(self, doc_id: str) -> Document:
        return self._by_id[doc_id]

    @cached_property
    def _by_id(self) -> dict[str, Document]:
        return {d.doc_id: d for d in self.documents}

    @cached_property
    def row_of(self) -> dict[int, int]:
        """Chunk id -> row of ``chunks`` (and of the BM25 scores)."""
        return {int(cid): row for row, cid in enumerate(self.chunks["id"])}


def index_text(doc: Document, chunk_text: str, mode: str) -> str:
    """What gets embedded and BM25-indexed for a chunk (the citation is always the bare chunk)."""
    if mode == "title+chunk" and doc.title and not chunk_text.startswith(doc.title):
        return f"{doc.title}\n{chunk_text}"
    return chunk_text


class IndexDir:
    """An index directory and its generations."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def generations(self) -> Path:
        return self.root / "generations"

    def current(self) -> Path:
        pointer = self.root / "CURRENT"
        if not pointer.is_file():
            raise IndexNotFound(f"no index at {self.root} (build one with `qa index build PATH --index {self.root}`)")
        generation = self.generations / pointer.read_text().strip()
        if not (generation / "manifest.json").is_file():
            raise IndexNotFound(f"index at {self.root} points to a missing generation {generation.name!r}")
        return generation

    def exists(self) -> bool:
        try:
            self.current()
        except IndexNotFound:
            return False
        return True

    def manifest(self) -> Manifest:
        return Manifest.from_json(json.loads((self.current() / "manifest.json").read_text()))

    def load(self, embedder: Embedder | None = None, chunker: ChunkerSettings | None = None) -> StoredIndex:
        generation = self.current()
        manifest = Manifest.from_json(json.loads((generation / "manifest.json").read_text()))
        manifest.check(embedder, chunker)
        with open(generation / "documents.jsonl", encoding="utf-8") as lines:
            documents = tuple(document_from_json(json.loads(line)) for line in lines)
        chunks = np.load(generation / "chunks.npy")
        dense = DenseIndex.load(generation / "dense.faiss", manifest.embedder["dim"])
        sparse = SparseIndex.load(generation / "bm25")
        if not (len(chunks) == len(dense) == len(sparse)):
            raise IndexMismatch(
                f"{generation}: {len(chunks)} chunks, {len(dense)} vectors, {len(sparse)} BM25 rows; rebuild it"
            )
        return StoredIndex(generation, manifest, documents, chunks, dense, sparse)

    def new_generation(self) -> Path:
        """A private folder to write a generation into; publish() makes it visible."""
        self.generations.mkdir(parents=True, exist_ok=True)
        name = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.tmp"
        path = self.generations / name
        path.mkdir()
        return path

    def publish(self, tmp_generation: Path) -> Path:
        """Make a fully written generation current: fsync, rename, swap the pointer by rename."""
        for file in _walk_files(tmp_generation):
            _fsync_file(file)
        final = tmp_generation.with_name(tmp_generation.name.removesuffix(".tmp"))
        os.rename(tmp_generation, final)
        _fsync_dir(self.generations)
        pointer_tmp = self.root / f"CURRENT.{uuid.uuid4().hex[:8]}.tmp"
        pointer_tmp.write_text(final.name + "\n")
        _fsync_file(pointer_tmp)
        os.replace(pointer_tmp, self.root / "CURRENT")
        _fsync_dir(self.root)
        self._prune(keep=final.name)
        return final

    def _prune(self, keep: str) -> None:
        finished = sorted(
            (p for p in self.generations.iterdir() if p.is_dir() and not p.name.endswith(".tmp")),
            key=lambda p: p.stat().st_mtime,
        )
        old = [p for p in finished if p.name != keep][: max(0, len(finished) - _KEEP_GENERATIONS)]
        for path in old:
            shutil.rmtree(path, ignore_errors=True)


def _walk_files(folder: Path) -> Iterator[Path]:
    for path in folder.rglob("*"):
        if path.is_file():
            yield path


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
