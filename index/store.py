"""The on-disk index: generations published atomically, and a manifest checked on load.

The layout of an index directory (its files, their formats, the manifest) is index/layout.py.
A generation is written in a private ``.tmp`` folder, then published by renaming it and swapping CURRENT.
Writers (build, update) hold ``index.lock``; readers never lock: they follow CURRENT and load a
generation wholly into memory, so pruning it later cannot pull files from under them.
"""

from __future__ import annotations

import os
import shutil
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from index.chunking import ChunkerSettings
from index.dense import DenseIndex
from index.embedding import Embedder
from index.layout import (
    BM25_DIR,
    CHUNKS_FILE,
    CURRENT_FILE,
    DENSE_FILE,
    GENERATIONS_DIR,
    MANIFEST_FILE,
    REBUILD_HINT,
    SENTENCE_DTYPE,
    SENTENCE_TOKEN_COUNTS_FILE,
    SENTENCE_TOKENS_FILE,
    SENTENCE_VECTORS_FILE,
    SENTENCES_FILE,
    TMP_SUFFIX,
    Manifest,
    generation_sequence,
    new_generation_name,
    read_documents,
    read_manifest,
)
from index.sparse import SparseIndex
from qa.core.errors import IndexMismatch, IndexNotFound
from qa.core.types import Document

_KEEP_GENERATIONS = 2
_LOAD_ATTEMPTS = 5
KILL_ENV = "QA_KILL_AT"


def crash_point(name: str) -> None:
    """Die by SIGKILL here when ``$QA_KILL_AT`` names this point: lets the crash tests stop a real
    writer at an exact step instead of hoping a random delay lands there."""
    if os.environ.get(KILL_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


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
        counts = self.counts[picked]
        ranges = [np.arange(a, a + n) for a, n in zip(self._starts[picked], counts, strict=True) if n]
        return self.bits[np.concatenate(ranges) if ranges else np.zeros(0, np.int64)], counts


@dataclass(frozen=True)
class StoredIndex:
    """A loaded generation: documents, chunk table and both retrieval indexes."""

    path: Path
    manifest: Manifest
    documents: tuple[Document, ...]
    chunks: np.ndarray  # CHUNK_DTYPE rows, aligned with the BM25 rows
    dense: DenseIndex
    sparse: SparseIndex
    sentences: np.ndarray | None = None  # SENTENCE_DTYPE rows, or None for a generation without them
    sentence_vectors: np.ndarray | None = None  # float16, one row per sentence
    sentence_tokens: SentenceTokens | None = None  # None for a generation without them

    def document(self, doc_id: str) -> Document:
        return self._by_id[doc_id]

    def sentence_rows(self, chunk_id: int) -> range:
        """Rows of ``sentences`` (and ``sentence_vectors``) of one chunk; empty when not stored."""
        first, count = self._sentence_runs.get(int(chunk_id), (0, 0))
        return range(first, first + count)

    @cached_property
    def _sentence_runs(self) -> dict[int, tuple[int, int]]:
        if self.sentences is None or not len(self.sentences):
            return {}
        ids = self.sentences["chunk"]
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        counts = np.diff(np.r_[starts, len(ids)])
        return {int(ids[a]): (int(a), int(n)) for a, n in zip(starts, counts, strict=True)}

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
        return self.root / GENERATIONS_DIR

    def current(self) -> Path:
        pointer = self.root / CURRENT_FILE
        if not pointer.is_file():
            raise IndexNotFound(f"no index at {self.root} (build one with `qa index build PATH --index {self.root}`)")
        generation = self.generations / pointer.read_text().strip()
        if not (generation / MANIFEST_FILE).is_file():
            raise IndexNotFound(f"index at {self.root} points to a missing generation {generation.name!r}")
        return generation

    def exists(self) -> bool:
        try:
            self.current()
        except IndexNotFound:
            return False
        return True

    def manifest(self) -> Manifest:
        return read_manifest(self.current())

    def load(self, embedder: Embedder | None = None, chunker: ChunkerSettings | None = None) -> StoredIndex:
        """The current generation, wholly in memory (so a later prune of its folder is harmless)."""
        for _ in range(_LOAD_ATTEMPTS):
            generation = self.current()
            try:
                return self._load(generation, embedder, chunker)
            except (OSError, RuntimeError):
                # A writer may publish twice while we read and prune this generation under us;
                # CURRENT then names a newer, complete one, so read that instead.
                if generation.is_dir():
                    raise
        raise IndexNotFound(f"index at {self.root} changed {_LOAD_ATTEMPTS} times while loading; try again")

    def _load(self, generation: Path, embedder: Embedder | None, chunker: ChunkerSettings | None) -> StoredIndex:
        manifest = read_manifest(generation)
        manifest.check(embedder, chunker)
        documents = read_documents(generation)
        chunks = np.load(generation / CHUNKS_FILE)
        dense = DenseIndex.load(generation / DENSE_FILE, manifest.embedder["dim"])
        sparse = SparseIndex.load(generation / BM25_DIR)
        if not (len(chunks) == len(dense) == len(sparse)):
            raise IndexMismatch(
                f"{generation}: {len(chunks)} chunks, {len(dense)} vectors, {len(sparse)} BM25 rows; {REBUILD_HINT}"
            )
        sentences, vectors = _load_sentences(generation, manifest)
        tokens = None if sentences is None else _load_sentence_tokens(generation, manifest, len(sentences))
        return StoredIndex(generation, manifest, documents, chunks, dense, sparse, sentences, vectors, tokens)

    def new_generation(self) -> Path:
        """A private folder to write a generation into; publish() makes it visible. Writers only
        (under the index lock), so the sequence number is unique."""
        self.generations.mkdir(parents=True, exist_ok=True)
        sequence = max((generation_sequence(p.name) for p in self.generations.iterdir()), default=0) + 1
        path = self.generations / new_generation_name(sequence)
        path.mkdir()
        return path

    def publish(self, tmp_generation: Path) -> Path:
        """Make a fully written generation current: fsync, rename, swap the pointer by rename."""
        for file in _walk_files(tmp_generation):
            _fsync_file(file)
        crash_point("written")
        final = tmp_generation.with_name(tmp_generation.name.removesuffix(TMP_SUFFIX))
        os.rename(tmp_generation, final)
        _fsync_dir(self.generations)
        crash_point("renamed")
        pointer_tmp = self.root / f"{CURRENT_FILE}.{uuid.uuid4().hex[:8]}{TMP_SUFFIX}"
        pointer_tmp.write_text(final.name + "\n")
        _fsync_file(pointer_tmp)
        crash_point("pointer-written")
        os.replace(pointer_tmp, self.root / CURRENT_FILE)
        _fsync_dir(self.root)
        crash_point("published")
        self.tidy()
        return final

    def tidy(self) -> None:
        """Remove what a dead writer left and generations no longer needed. Writers only.

        Removed: unfinished ``*.tmp`` generations, pointer temp files, finished generations newer
        than the current one (written but never published), and all but the current generation
        and the one before it (a reader that started loading it just before a swap can finish).
        """
        for pointer_tmp in self.root.glob(f"{CURRENT_FILE}.*{TMP_SUFFIX}"):
            pointer_tmp.unlink(missing_ok=True)
        if not self.generations.is_dir():
            return
        try:
            current = self.current().name
        except IndexNotFound:
            current = None
        finished = sorted(
            (p for p in self.generations.iterdir() if p.is_dir() and not p.name.endswith(TMP_SUFFIX)),
            key=lambda p: (generation_sequence(p.name), p.name),
        )
        keep: set[str] = set()
        if current is not None:
            older = [p.name for p in finished if generation_sequence(p.name) < generation_sequence(current)]
            keep = {current, *older[-(_KEEP_GENERATIONS - 1) :]}
        for path in self.generations.iterdir():
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)


def _load_sentences(generation: Path, manifest: Manifest) -> tuple[np.ndarray | None, np.ndarray | None]:
    if not (generation / SENTENCES_FILE).is_file():
        return None, None
    sentences = np.fromfile(generation / SENTENCES_FILE, dtype=SENTENCE_DTYPE)
    vectors = np.fromfile(generation / SENTENCE_VECTORS_FILE, dtype=np.float16)
    dim = int(manifest.embedder["dim"])
    expected = manifest.counts.get("sentences")
    if len(vectors) != len(sentences) * dim or (expected is not None and expected != len(sentences)):
        raise IndexMismatch(
            f"{generation}: {len(sentences)} sentences but {len(vectors) / dim:g} sentence vectors "
            f"(manifest: {expected}); {REBUILD_HINT}"
        )
    return sentences, vectors.reshape(len(sentences), dim)


def _load_sentence_tokens(generation: Path, manifest: Manifest, sentences: int) -> SentenceTokens | None:
    if not (generation / SENTENCE_TOKEN_COUNTS_FILE).is_file():
        return None
    counts = np.fromfile(generation / SENTENCE_TOKEN_COUNTS_FILE, dtype="<i4")
    bits = np.fromfile(generation / SENTENCE_TOKENS_FILE, dtype=np.uint8)
    width = (int(manifest.embedder["dim"]) + 7) // 8
    total = int(counts.sum(dtype=np.int64))
    expected = manifest.counts.get("sentence_tokens")
    if len(counts) != sentences or len(bits) != total * width or (expected is not None and expected != total):
        raise IndexMismatch(
            f"{generation}: {len(counts)} token counts for {sentences} sentences, {len(bits) / width:g} token rows "
            f"for {total} counted (manifest: {expected}); {REBUILD_HINT}"
        )
    return SentenceTokens(bits.reshape(total, width), counts)


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
