"""The on-disk index: generations published atomically, and a manifest checked on load.

Layout of an index directory::

    CURRENT                      name of the published generation (replaced by rename)
    generations/<name>/
        manifest.json            format version, embedder, chunker, documents, counts, times
        documents.jsonl          one stored Document a line (citations are checked against it)
        chunks.npy               chunk id, document row, start, end, tokens
        dense.faiss              vectors under the chunk ids
        bm25/                    BM25 rows aligned with chunks.npy
        sentences.bin            chunk id, start, end of each sentence of each chunk, chunk by chunk
        sentence_vectors.f16     a float16 vector per sentence, read in its chunk's context
        sentence_token_counts.i4 how many token rows each sentence has
        sentence_tokens.bits     the sign bits of each sentence's token states, sentence by sentence

The sentence files let an answer score evidence sentences without running the model
(``Embedder.embed_spans``); a generation without them is still read, and its answers embed
their candidate sentences at question time instead (without the token files, answers skip the
token match, index/token_signs.py).

Chunk ids are 64-bit integers handed out from a counter kept in the manifest, never
reused, so that a later update can add and delete documents by id without renumbering.

Generations are named ``gen-<sequence>-<time>``; the sequence orders them, so after a crash
the next writer can tell a published generation from one that was written but never made
current. Writers (build, update) hold ``index.lock``; readers never lock: they follow CURRENT
and load a generation wholly into memory, so pruning it later cannot pull files from under them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
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
from qa.core.errors import IndexMismatch, IndexNotFound
from qa.core.types import Document, PageSpan

FORMAT_VERSION = 1
CHUNK_DTYPE = np.dtype([("id", "<i8"), ("doc", "<i4"), ("start", "<i4"), ("end", "<i4"), ("tokens", "<i4")])
# Offsets are the document's, like the chunks'; a chunk's sentences are contiguous rows.
SENTENCE_DTYPE = np.dtype([("chunk", "<i8"), ("start", "<i4"), ("end", "<i4")])
SENTENCES_FILE = "sentences.bin"
SENTENCE_VECTORS_FILE = "sentence_vectors.f16"
SENTENCE_TOKEN_COUNTS_FILE = "sentence_token_counts.i4"
SENTENCE_TOKENS_FILE = "sentence_tokens.bits"
_KEEP_GENERATIONS = 2
_LOAD_ATTEMPTS = 5
_SEQUENCE = re.compile(r"gen-(\d{6})-")
KILL_ENV = "QA_KILL_AT"
REBUILD_HINT = "rebuild it with `qa index update PATH... --rebuild` (or `qa index build PATH...`)"


def crash_point(name: str) -> None:
    """Die by SIGKILL here when ``$QA_KILL_AT`` names this point: lets the crash tests stop a real
    writer at an exact step instead of hoping a random delay lands there."""
    if os.environ.get(KILL_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


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
        _check_format(self.format_version)
        if embedder is not None:
            for key, ours in (("name", embedder.name), ("fingerprint", embedder.fingerprint)):
                if self.embedder.get(key) != ours:
                    raise IndexMismatch(
                        f"index embedder {key} {self.embedder.get(key)!r} differs from {ours!r}; {REBUILD_HINT}"
                    )
        if chunker is not None and self.chunker != chunker.to_json():
            raise IndexMismatch(
                f"index chunker settings {self.chunker} differ from {chunker.to_json()}; {REBUILD_HINT}"
            )


def _check_format(version: object) -> None:
    if version != FORMAT_VERSION:
        raise IndexMismatch(f"index format {version} is not the supported format {FORMAT_VERSION}; {REBUILD_HINT}")


def read_manifest(generation: Path) -> Manifest:
    """The manifest of a generation; the format version is checked before any other field is read."""
    data = json.loads((generation / "manifest.json").read_text(encoding="utf-8"))
    _check_format(data.get("format_version") if isinstance(data, dict) else None)
    return Manifest.from_json(data)


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
        with open(generation / "documents.jsonl", encoding="utf-8") as lines:
            documents = tuple(document_from_json(json.loads(line)) for line in lines)
        chunks = np.load(generation / "chunks.npy")
        dense = DenseIndex.load(generation / "dense.faiss", manifest.embedder["dim"])
        sparse = SparseIndex.load(generation / "bm25")
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
        sequence = max((_sequence(p.name) for p in self.generations.iterdir()), default=0) + 1
        path = self.generations / f"gen-{sequence:06d}-{time.strftime('%Y%m%dT%H%M%S')}.tmp"
        path.mkdir()
        return path

    def publish(self, tmp_generation: Path) -> Path:
        """Make a fully written generation current: fsync, rename, swap the pointer by rename."""
        for file in _walk_files(tmp_generation):
            _fsync_file(file)
        crash_point("written")
        final = tmp_generation.with_name(tmp_generation.name.removesuffix(".tmp"))
        os.rename(tmp_generation, final)
        _fsync_dir(self.generations)
        crash_point("renamed")
        pointer_tmp = self.root / f"CURRENT.{uuid.uuid4().hex[:8]}.tmp"
        pointer_tmp.write_text(final.name + "\n")
        _fsync_file(pointer_tmp)
        crash_point("pointer-written")
        os.replace(pointer_tmp, self.root / "CURRENT")
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
        for pointer_tmp in self.root.glob("CURRENT.*.tmp"):
            pointer_tmp.unlink(missing_ok=True)
        if not self.generations.is_dir():
            return
        try:
            current = self.current().name
        except IndexNotFound:
            current = None
        finished = sorted(
            (p for p in self.generations.iterdir() if p.is_dir() and not p.name.endswith(".tmp")),
            key=lambda p: (_sequence(p.name), p.name),
        )
        keep: set[str] = set()
        if current is not None:
            older = [p.name for p in finished if _sequence(p.name) < _sequence(current)]
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


def _sequence(name: str) -> int:
    """Sequence number of a generation folder; 0 for names from before sequences existed."""
    match = _SEQUENCE.match(name)
    return int(match.group(1)) if match else 0


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
