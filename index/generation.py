"""A loaded generation (``StoredIndex``) and how one is read: through memory maps, every file at once.

``read_generation`` maps each file of a generation (documents, chunk table, vectors, the
approximate index, BM25, sentence tables) and reads only what checking their sizes needs, so
start-up time and memory do not grow with the corpus: pages are read as questions touch them.
It opens no file later, so once it returns, the generation's folder may be unlinked (pruned by a
writer) and every mapping stays readable. Format 1 generations are read too; the parts they lack
(document offsets and hashes, ``chunk_sentences``) are rebuilt in memory, and their vectors are
read from their flat faiss index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from index.dense import DenseIndex
from index.layout import (
    BM25_DIR,
    CHUNK_SENTENCES_FILE,
    CHUNKS_FILE,
    DENSE_FILE,
    DOCUMENT_COLLECTIONS_FILE,
    DOCUMENT_HASHES_FILE,
    DOCUMENT_OFFSETS_FILE,
    DOCUMENTS_FILE,
    REBUILD_HINT,
    SENTENCE_DTYPE,
    SENTENCE_TOKEN_COUNTS_FILE,
    SENTENCE_TOKENS_FILE,
    SENTENCE_VECTORS_FILE,
    SENTENCES_FILE,
    VECTORS_FILE,
    Manifest,
)
from index.sparse import SparseIndex
from index.tables import DocumentHashes, DocumentTable, map_array
from qa.core.errors import IndexMismatch
from qa.core.types import DEFAULT_COLLECTION, Document


@dataclass(frozen=True)
class SentenceTokens:
    """The sign bits of every stored sentence's token states (index/token_signs.py): ``counts[r]``
    consecutive rows of ``bits`` for sentence row r, in sentence row order."""

    bits: np.ndarray  # uint8, (tokens, ceil(dim / 8))
    counts: np.ndarray  # int32, one per sentence row

    @cached_property
    def _starts(self) -> np.ndarray:
        counts = self.counts.astype(np.int64)
        return np.cumsum(counts) - counts

    def of(self, rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The bits of the sentences in ``rows``, one sentence after another, and their counts."""
        picked = np.asarray(rows, dtype=np.int64)
        counts = np.asarray(self.counts[picked])
        ranges = [np.arange(a, a + n) for a, n in zip(self._starts[picked], counts, strict=True) if n]
        return np.asarray(self.bits[np.concatenate(ranges) if ranges else np.zeros(0, np.int64)]), counts


@dataclass(frozen=True)
class RowLookup:
    """``lookup[chunk_id]`` -> its row, by binary search over the sorted ids (no dict of every chunk)."""

    dense: DenseIndex

    def __getitem__(self, chunk_id: int) -> int:
        return int(self.dense.rows(np.array([chunk_id]))[0])


@dataclass(frozen=True)
class StoredIndex:
    """A loaded generation: documents, chunk table and both retrieval indexes, read through memory maps."""

    path: Path
    manifest: Manifest
    documents: Sequence[Document]  # a DocumentTable: each document parsed when asked for
    chunks: np.ndarray  # CHUNK_DTYPE rows, aligned with the BM25 rows and the vector rows
    dense: DenseIndex
    sparse: SparseIndex
    hashes: DocumentHashes
    sentences: np.ndarray | None = None  # SENTENCE_DTYPE rows, or None for a generation without them
    sentence_vectors: np.ndarray | None = None  # float16, one row per sentence
    sentence_tokens: SentenceTokens | None = None  # None for a generation without them
    chunk_sentences: np.ndarray | None = None  # first sentence row of each chunk row, then their number
    collection_codes: np.ndarray | None = None  # per document row, into manifest.collections; None: all default

    def chunk_mask(self, collections: frozenset[str]) -> np.ndarray | None:
        """Per chunk row, whether its document is in one of ``collections``; None when all are."""
        names = self.manifest.collections if self.collection_codes is not None else (DEFAULT_COLLECTION,)
        allowed = np.array([name in collections for name in names], dtype=bool)
        if allowed.all():
            return None
        if self.collection_codes is None:
            return np.zeros(len(self.chunks), dtype=bool)
        return allowed[np.asarray(self.collection_codes)[np.asarray(self.chunks["doc"])]]

    def counts(self, collections: frozenset[str] | None = None) -> tuple[int, int]:
        """Documents and chunks in ``collections`` (None: the whole index)."""
        mask = None if collections is None else self.chunk_mask(collections)
        if mask is None:
            return len(self.documents), len(self.chunks)
        names = self.manifest.collections if self.collection_codes is not None else (DEFAULT_COLLECTION,)
        allowed = np.array([name in collections for name in names], dtype=bool)
        codes = np.asarray(self.collection_codes) if self.collection_codes is not None else None
        documents = int(allowed[codes].sum()) if codes is not None else 0
        return documents, int(mask.sum())

    def collection_of(self, row: int) -> str:
        """The collection of document row ``row`` (without parsing the document)."""
        if self.collection_codes is None:
            return DEFAULT_COLLECTION
        return self.manifest.collections[int(self.collection_codes[row])]

    def document(self, doc_id: str) -> Document:
        row = self.hashes.row(doc_id)
        if row is None:
            raise KeyError(doc_id)
        return self.documents[row]

    def sentence_rows(self, chunk_id: int) -> range:
        """Rows of ``sentences`` (and ``sentence_vectors``) of one chunk; empty when not stored."""
        if self.chunk_sentences is None:
            return range(0)
        row = self.row_of[chunk_id]
        return range(int(self.chunk_sentences[row]), int(self.chunk_sentences[row + 1]))

    @property
    def row_of(self) -> RowLookup:
        """Chunk id -> row of ``chunks`` (and of the BM25 scores and the vectors)."""
        return RowLookup(self.dense)


def read_generation(generation: Path, manifest: Manifest) -> StoredIndex:
    """Map every file of ``generation`` (its manifest already read and checked)."""
    dim = int(manifest.embedder["dim"])
    chunks = np.load(generation / CHUNKS_FILE, mmap_mode="r")
    if manifest.format_version == 1:
        documents = DocumentTable.scan(generation / DOCUMENTS_FILE)
        hashes = DocumentHashes.of_documents(documents)
        dense = DenseIndex.load_flat(generation / DENSE_FILE, dim)
        if not np.array_equal(dense.ids, chunks["id"]):
            raise IndexMismatch(f"{generation}: the vectors are not in chunk row order; {REBUILD_HINT}")
    else:
        documents = DocumentTable.open(generation / DOCUMENTS_FILE, generation / DOCUMENT_OFFSETS_FILE)
        hashes = DocumentHashes.load(generation / DOCUMENT_HASHES_FILE)
        vectors = map_array(generation / VECTORS_FILE, np.float32, dim)
        dense = DenseIndex.load(chunks["id"], vectors, manifest.dense, generation / DENSE_FILE)
    sparse = SparseIndex.load(generation / BM25_DIR)
    if not (len(chunks) == len(dense) == len(sparse)):
        raise IndexMismatch(
            f"{generation}: {len(chunks)} chunks, {len(dense)} vectors, {len(sparse)} BM25 rows; {REBUILD_HINT}"
        )
    if len(hashes) != manifest.counts.get("documents", len(hashes)) or len(hashes) > len(documents):
        raise IndexMismatch(
            f"{generation}: {len(hashes)} document hashes for {len(documents)} documents "
            f"(manifest: {manifest.counts.get('documents')}); {REBUILD_HINT}"
        )
    sentences, vectors = _read_sentences(generation, manifest)
    tokens = None if sentences is None else _read_sentence_tokens(generation, manifest, len(sentences))
    starts = None if sentences is None else _chunk_sentences(generation, sentences, dense)
    codes = None
    if (generation / DOCUMENT_COLLECTIONS_FILE).is_file():
        codes = map_array(generation / DOCUMENT_COLLECTIONS_FILE, np.dtype("<u2"))
        if len(codes) != len(documents) or (len(codes) and int(codes.max()) >= len(manifest.collections)):
            raise IndexMismatch(
                f"{generation}: {len(codes)} document collections for {len(documents)} documents "
                f"and {len(manifest.collections)} collection names; {REBUILD_HINT}"
            )
    return StoredIndex(
        generation, manifest, documents, chunks, dense, sparse, hashes, sentences, vectors, tokens, starts, codes
    )


def _read_sentences(generation: Path, manifest: Manifest) -> tuple[np.ndarray | None, np.ndarray | None]:
    if not (generation / SENTENCES_FILE).is_file():
        return None, None
    sentences = map_array(generation / SENTENCES_FILE, SENTENCE_DTYPE)
    dim = int(manifest.embedder["dim"])
    vectors = map_array(generation / SENTENCE_VECTORS_FILE, np.float16, dim)
    expected = manifest.counts.get("sentences")
    if len(vectors) != len(sentences) or (expected is not None and expected != len(sentences)):
        raise IndexMismatch(
            f"{generation}: {len(sentences)} sentences but {len(vectors)} sentence vectors "
            f"(manifest: {expected}); {REBUILD_HINT}"
        )
    return sentences, vectors


def _read_sentence_tokens(generation: Path, manifest: Manifest, sentences: int) -> SentenceTokens | None:
    if not (generation / SENTENCE_TOKEN_COUNTS_FILE).is_file():
        return None
    counts = map_array(generation / SENTENCE_TOKEN_COUNTS_FILE, np.dtype("<i4"))
    width = (int(manifest.embedder["dim"]) + 7) // 8
    bits = map_array(generation / SENTENCE_TOKENS_FILE, np.uint8, width)
    # Summing 4 bytes a sentence is the one pass over a table the load makes: it catches a torn file.
    total = int(counts.sum(dtype=np.int64))
    expected = manifest.counts.get("sentence_tokens")
    if len(counts) != sentences or len(bits) != total or (expected is not None and expected != total):
        raise IndexMismatch(
            f"{generation}: {len(counts)} token counts for {sentences} sentences, {len(bits)} token rows "
            f"for {total} counted (manifest: {expected}); {REBUILD_HINT}"
        )
    return SentenceTokens(bits, counts)


def _chunk_sentences(generation: Path, sentences: np.ndarray, dense: DenseIndex) -> np.ndarray:
    path = generation / CHUNK_SENTENCES_FILE
    if path.is_file():
        starts = map_array(path, np.dtype("<i8"))
        if len(starts) != len(dense) + 1 or int(starts[-1]) != len(sentences):
            raise IndexMismatch(
                f"{generation}: sentence starts for {len(starts) - 1} chunks ending at "
                f"{int(starts[-1]) if len(starts) else None}, for {len(dense)} chunks and {len(sentences)} sentences; "
                f"{REBUILD_HINT}"
            )
        return starts
    # Format 1: the sentences are stored chunk by chunk, in chunk row order; count each chunk's run.
    ids = np.asarray(sentences["chunk"])
    counts = np.zeros(len(dense), dtype=np.int64)
    if len(ids):
        runs = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        counts[dense.rows(ids[runs])] = np.diff(np.r_[runs, len(ids)])
    return np.r_[0, np.cumsum(counts)].astype(np.int64)
