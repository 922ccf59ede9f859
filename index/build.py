"""Full index build: stream documents, chunk, embed in batches, write and publish a generation.

Documents are streamed (written to disk as they come), and chunk texts are embedded in
batches, so the whole corpus never sits in memory as vectors-plus-documents at once. The
build holds the index's writer lock and first clears what a dead writer left behind.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from index.chunking import ChunkerSettings, chunk_document
from index.dense import DenseSettings
from index.embedding import Embedder
from index.loaders import Skipped
from index.lock import writer_lock
from index.store import IndexDir
from index.writer import GenerationWriter, Span
from qa.core.types import Document, check_collection

if TYPE_CHECKING:
    from index.postgres.reader import PgStore
    from index.postgres.writer import PgWriter

DEFAULT_INDEX_TEXT = "title+chunk"


@dataclass(frozen=True, slots=True)
class BuildReport:
    path: Path | str  # an index directory, or a store's URL with any password hidden
    documents: int
    chunks: int
    skipped: tuple[Skipped, ...]
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "index": str(self.path),
            "documents": self.documents,
            "chunks": self.chunks,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "seconds": round(self.seconds, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


def chunk_spans(doc: Document, chunker: ChunkerSettings) -> list[Span]:
    """``(start, end, tokens)`` of each chunk; the chunk texts themselves are dropped at once."""
    return [(chunk.start, chunk.end, chunk.n_tokens) for chunk in chunk_document(doc, chunker)]


def build_index(
    sources: Iterable[Document | Skipped],
    root: Path | PgStore,
    embedder: Embedder,
    chunker: ChunkerSettings = ChunkerSettings(),
    index_text_mode: str = DEFAULT_INDEX_TEXT,
    on_document: Callable[[Document | Skipped, int], None] | None = None,
    dense: DenseSettings = DenseSettings(),
    collection: str | None = None,
) -> BuildReport:
    """Build a new generation from ``sources`` and publish it as the current one.

    ``root`` is an index directory or a PostgreSQL store (index/postgres): the same rules hold
    for both. ``sources`` may hold ``Prepared`` documents (index/ray_ingest.py), already chunked
    and embedded by Ray workers.

    ``on_document(item, n_chunks_so_far)`` is called after each source item (progress bars).
    The previous generation stays current until the new one is completely written. Raises
    IndexLocked when another process is writing the index. Every document goes to ``collection``
    (None: each to its own, ``default`` for documents read from files).
    """
    if collection is not None:
        check_collection(collection)
    began = time.perf_counter()
    skipped: list[Skipped] = []
    chunk_seconds = 0.0
    with build_writer(root, embedder, chunker, index_text_mode, dense) as writer:
        for item in sources:
            if isinstance(item, Skipped):
                skipped.append(item)
            else:
                if isinstance(item, Document):
                    doc, spans, vectors = item, None, None
                else:  # read, chunked and embedded by a Ray worker
                    doc, spans, vectors = item.doc, item.spans, item.vectors
                if collection is not None and doc.collection != collection:
                    doc = dataclasses.replace(doc, collection=collection)
                t = time.perf_counter()
                spans = chunk_spans(doc, chunker) if spans is None else spans
                chunk_seconds += time.perf_counter() - t
                writer.add(doc, spans, vectors=vectors)
                item = doc
            if on_document is not None:
                on_document(item, writer.chunks)
        final = writer.publish(skipped)
    timings = {"chunk": chunk_seconds, **writer.timings}
    return BuildReport(final, writer.documents, writer.chunks, tuple(skipped), time.perf_counter() - began, timings)


@contextmanager
def build_writer(
    root: Path | PgStore, embedder: Embedder, chunker: ChunkerSettings, index_text_mode: str, dense: DenseSettings
) -> Iterator[GenerationWriter | PgWriter]:
    """The writer of a full build: a new generation in a directory (under its writer lock), or a
    store transaction that may replace an index made with other settings."""
    if isinstance(root, Path):
        index_dir = IndexDir(root)
        with writer_lock(index_dir.root, "build"):
            index_dir.tidy()
            with GenerationWriter(index_dir, embedder, chunker, index_text_mode, dense=dense) as writer:
                yield writer
        return
    from index.postgres.writer import PgWriter

    with PgWriter(root.url, embedder, chunker, index_text_mode, dense, reset=True) as store_writer:
        yield store_writer
