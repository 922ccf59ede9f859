"""What every writer of a generation does to a chunk before storing it: its index text, its
sentences, and its vectors, made in batches or taken from what was embedded before.

The file writer (index/writer.py), the PostgreSQL writer (index/postgres/writer.py) and the Ray
workers (index/ray_ingest.py) all go through ``chunk_inputs`` and ``embed_chunks``, so a chunk's
vectors are the same whichever path made them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from index.cache import ChunkVectors, EmbeddingCache
from index.embedding import Embedder
from index.sentences import sentence_spans
from index.store import crash_point, index_text
from qa.core.errors import IndexMismatch
from qa.core.types import Document

EMBED_BATCH = 4096  # larger groups let the encoder sort by length with less padding
Span = tuple[int, int, int]  # start, end (character offsets into the document), tokens


@dataclass(frozen=True)
class ChunkInput:
    """What is embedded for one chunk: its index text, its sentences in that text, and
    ``offset``, which turns those into document offsets."""

    text: str
    offset: int
    spans: list[tuple[int, int]]


def check_vectors(doc: Document, spans: Sequence[Span], vectors: Sequence[ChunkVectors] | None) -> None:
    """Raise IndexMismatch unless ``vectors`` (made elsewhere: a Ray worker) has one entry per chunk."""
    if vectors is not None and len(vectors) != len(spans):
        raise IndexMismatch(f"{len(vectors)} chunk vectors for {len(spans)} chunks of {doc.doc_id!r}")


def chunk_inputs(doc: Document, spans: Sequence[Span], mode: str) -> list[ChunkInput]:
    """The index text and sentences of each chunk of ``doc``."""
    out = []
    for start, end, _ in spans:
        chunk_text = doc.text[start:end]
        text = index_text(doc, chunk_text, mode)
        # The same split the answerer makes of a retrieved chunk, so its sentences find their rows.
        shift = len(text) - len(chunk_text)  # the title line before the chunk in its index text
        out.append(ChunkInput(text, start - shift, [(shift + a, shift + b) for a, b in sentence_spans(chunk_text)]))
    return out


def embed_chunks(embedder: Embedder, chunks: Sequence[ChunkInput]) -> list[ChunkVectors]:
    """What the model makes of ``chunks``, one ``ChunkVectors`` each, in order."""
    if not chunks:
        return []
    made = embedder.embed_spans([c.text for c in chunks], [c.spans for c in chunks])
    bounds = np.cumsum([0] + [len(c.spans) for c in chunks])
    token_bounds = np.r_[0, np.cumsum(made.token_counts, dtype=np.int64)]
    return [
        ChunkVectors(
            made.texts[j],
            made.spans[first:last],
            made.token_bits[token_bounds[first] : token_bounds[last]],
            made.token_counts[first:last],
        )
        for j, (first, last) in enumerate(pairwise(bounds))
    ]


@dataclass(frozen=True)
class Pending:
    """A chunk waiting for its vectors (``vectors`` already known when cached or made elsewhere)."""

    chunk_id: int
    doc_row: int
    chunk: ChunkInput
    vectors: ChunkVectors | None


class EmbedBatches:
    """Chunks queued for embedding, handed back with their vectors a batch at a time."""

    def __init__(self, embedder: Embedder, cache: EmbeddingCache) -> None:
        self.embedder = embedder
        self.cache = cache
        self.queue: list[Pending] = []
        self.embedded = 0
        self.reused = 0
        self.seconds = 0.0

    def add(self, chunk_id: int, doc_row: int, chunk: ChunkInput, vectors: ChunkVectors | None = None) -> bool:
        """Queue a chunk; True when a batch is full (call ``take``). ``vectors``: made elsewhere
        (a Ray worker), else looked up in the cache, else embedded with the batch."""
        if vectors is not None:
            self.embedded += 1  # by a worker of this build
        else:
            vectors = self.cache.get(self.embedder.fingerprint, chunk.text)
            self.reused += vectors is not None
        self.queue.append(Pending(chunk_id, doc_row, chunk, vectors))
        return len(self.queue) >= EMBED_BATCH

    def take(self) -> list[tuple[Pending, ChunkVectors]]:
        """Every queued chunk with its vectors, in the order queued; the queue is emptied."""
        missing = [p.chunk for p in self.queue if p.vectors is None]
        t = time.perf_counter()
        fresh = iter(embed_chunks(self.embedder, missing))
        if missing:
            self.seconds += time.perf_counter() - t
            crash_point("embedded")
        out = [(p, p.vectors if p.vectors is not None else next(fresh)) for p in self.queue]
        self.embedded += len(missing)
        self.queue = []
        return out
