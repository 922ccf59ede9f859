"""Writing one generation, shared by the full build and the incremental update.

Documents are written to disk as they come and chunk vectors are appended to ``vectors.f32``
in batches, in row order, so a generation written by an update is laid out exactly like one
written by a full build of the same files (same rows, same tie order in search, and past the
size threshold the same approximate index, built at publish from those rows). A chunk whose index text was
embedded before takes its vector, and its sentences' vectors, from the ``EmbeddingCache``
instead of the model. Sentence rows are appended to their files batch by batch, so a huge
document never holds all of them in memory.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import numpy as np

from index.batching import EmbedBatches, Span, check_vectors, chunk_inputs
from index.cache import ChunkVectors, EmbeddingCache
from index.chunking import ChunkerSettings
from index.dense import DenseIndex, DenseSettings
from index.embedding import Embedder, embedder_json
from index.layout import (
    BM25_DIR,
    CHUNK_DTYPE,
    CHUNK_SENTENCES_FILE,
    CHUNKS_FILE,
    DENSE_FILE,
    DOCUMENT_COLLECTIONS_FILE,
    DOCUMENT_HASHES_FILE,
    DOCUMENT_OFFSETS_FILE,
    DOCUMENTS_FILE,
    FORMAT_VERSION,
    MANIFEST_FILE,
    SENTENCE_DTYPE,
    SENTENCE_TOKEN_COUNTS_FILE,
    SENTENCE_TOKENS_FILE,
    SENTENCE_VECTORS_FILE,
    SENTENCES_FILE,
    TMP_SUFFIX,
    VECTORS_FILE,
    Manifest,
    document_to_json,
)
from index.loaders import Skipped
from index.sparse import SparseIndex
from index.store import IndexDir
from index.tables import DocumentHashes, document_key, document_state, map_array
from qa.core.errors import IndexMismatch
from qa.core.types import Document


class GenerationWriter:
    """A generation being written: ``add`` documents, then ``publish`` (or leave the block to abandon it).

    Used as a context manager: an exception inside the block removes the unfinished folder, and
    the current generation is untouched either way until ``publish`` swaps the pointer.
    """

    def __init__(
        self,
        index_dir: IndexDir,
        embedder: Embedder,
        chunker: ChunkerSettings,
        index_text_mode: str,
        next_chunk_id: int = 0,
        cache: EmbeddingCache | None = None,
        dense: DenseSettings = DenseSettings(),
    ) -> None:
        self.index_dir = index_dir
        self.embedder = embedder
        self.chunker = chunker
        self.index_text_mode = index_text_mode
        self.cache = cache if cache is not None else EmbeddingCache.empty(embedder.fingerprint)
        if self.cache.fingerprint != embedder.fingerprint:
            raise IndexMismatch(f"cached vectors of {self.cache.fingerprint!r} offered to {embedder.fingerprint!r}")
        self.dense = dense
        self.path = index_dir.new_generation()
        self._documents = open(self.path / DOCUMENTS_FILE, "wb")  # noqa: SIM115 (closed in publish/__exit__)
        self._offsets = [0]  # byte offset of each document's line, then the file's length
        self._collections: dict[str, int] = {}  # collection name -> its code, in order of first use
        self._codes: list[int] = []  # the collection code of each document row
        self._vectors = open(self.path / VECTORS_FILE, "wb")  # noqa: SIM115 (as above)
        self._hashes: dict[bytes, tuple[bytes, int]] = {}  # document key -> (state, row); a repeated id: the last
        self._rows: list[tuple[int, int, int, int, int]] = []
        self._chunk_sentences = [0]  # first sentence row of each chunk, then the number of sentences
        self._texts: list[str] = []  # every chunk's index text: BM25 is built from all of them at the end
        self._batches = EmbedBatches(embedder, self.cache)
        self._sentences = open(self.path / SENTENCES_FILE, "wb")  # noqa: SIM115 (closed in publish/__exit__)
        self._sentence_vectors = open(self.path / SENTENCE_VECTORS_FILE, "wb")  # noqa: SIM115 (as above)
        self._token_counts = open(self.path / SENTENCE_TOKEN_COUNTS_FILE, "wb")  # noqa: SIM115 (as above)
        self._token_bits = open(self.path / SENTENCE_TOKENS_FILE, "wb")  # noqa: SIM115 (as above)
        self.sentence_count = 0
        self.token_count = 0
        self._next_id = next_chunk_id
        self.timings = {"embed": 0.0, "bm25": 0.0, "dense": 0.0, "write": 0.0}

    def __enter__(self) -> GenerationWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        for handle in self._handles():
            if not handle.closed:
                handle.close()
        if self.path.name.endswith(TMP_SUFFIX):  # not published: nothing may point at it
            shutil.rmtree(self.path, ignore_errors=True)

    def _handles(self) -> tuple:
        return (
            self._documents,
            self._vectors,
            self._sentences,
            self._sentence_vectors,
            self._token_counts,
            self._token_bits,
        )

    @property
    def documents(self) -> int:
        return len(self._hashes)

    @property
    def chunks(self) -> int:
        return len(self._rows)

    def add(
        self,
        doc: Document,
        spans: Sequence[Span],
        ids: Sequence[int] | None = None,
        vectors: Sequence[ChunkVectors] | None = None,
    ) -> None:
        """Append ``doc`` with its chunks; ``ids`` keeps existing chunk ids, else fresh ones are
        handed out; ``vectors``, one per chunk, were made elsewhere (a Ray worker)."""
        if ids is not None and len(ids) != len(spans):
            raise IndexMismatch(f"{len(ids)} chunk ids for {len(spans)} chunks of {doc.doc_id!r}")
        check_vectors(doc, spans, vectors)
        doc_row = len(self._offsets) - 1
        self._hashes[document_key(doc.doc_id)] = (document_state(doc), doc_row)
        line = (json.dumps(document_to_json(doc), ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass")
        self._documents.write(line)
        self._offsets.append(self._offsets[-1] + len(line))
        self._codes.append(self._collections.setdefault(doc.collection, len(self._collections)))
        inputs = chunk_inputs(doc, spans, self.index_text_mode)
        for i, ((start, end, tokens), chunk) in enumerate(zip(spans, inputs, strict=True)):
            if ids is None:
                chunk_id, self._next_id = self._next_id, self._next_id + 1
            else:
                chunk_id = int(ids[i])
            self._rows.append((chunk_id, doc_row, start, end, tokens))
            self._texts.append(chunk.text)
            made = None if vectors is None else vectors[i]
            if self._batches.add(chunk_id, doc_row, chunk, made):  # a huge document is flushed as it goes
                self._flush()

    def _flush(self) -> None:
        made = self._batches.take()
        if not made:
            return
        chunk_vectors = np.array([vectors.vector for _, vectors in made], dtype="<f4")
        if chunk_vectors.shape != (len(made), self.embedder.dim):
            raise IndexMismatch(f"vectors of shape {chunk_vectors.shape} from a {self.embedder.dim}-d embedder")
        self._vectors.write(chunk_vectors.tobytes())
        for pending, vectors in made:
            spans = pending.chunk.spans
            table = np.zeros(len(spans), dtype=SENTENCE_DTYPE)
            table["chunk"] = pending.chunk_id
            table["start"] = [pending.chunk.offset + a for a, _ in spans]
            table["end"] = [pending.chunk.offset + b for _, b in spans]
            self._sentences.write(table.tobytes())
            self._sentence_vectors.write(np.asarray(vectors.sentences, dtype=np.float16).tobytes())
            self._token_counts.write(np.asarray(vectors.token_counts, dtype="<i4").tobytes())
            self._token_bits.write(np.ascontiguousarray(vectors.token_bits, dtype=np.uint8).tobytes())
            self.sentence_count += len(spans)
            self._chunk_sentences.append(self.sentence_count)
            self.token_count += int(np.sum(vectors.token_counts))

    @property
    def embedded(self) -> int:
        return self._batches.embedded

    @property
    def reused(self) -> int:
        return self._batches.reused

    def publish(self, skipped: Sequence[Skipped]) -> Path:
        """Write the indexes and the manifest, then make this generation current."""
        self._flush()
        for handle in self._handles():
            handle.close()
        t = time.perf_counter()
        table = np.array(self._rows, dtype=CHUNK_DTYPE) if self._rows else np.zeros(0, dtype=CHUNK_DTYPE)
        sparse = SparseIndex.build(table["id"], self._texts)
        self._texts = []
        self.timings["bm25"] = time.perf_counter() - t
        t = time.perf_counter()
        vectors = map_array(self.path / VECTORS_FILE, np.float32, self.embedder.dim)
        dense = DenseIndex.build(table["id"], vectors, self.dense)
        dense.save(self.path / DENSE_FILE)
        self.timings["dense"] = time.perf_counter() - t
        t = time.perf_counter()
        np.save(self.path / CHUNKS_FILE, table)
        np.array(self._offsets, dtype="<i8").tofile(self.path / DOCUMENT_OFFSETS_FILE)
        DocumentHashes.of(self._hashes).save(self.path / DOCUMENT_HASHES_FILE)
        np.array(self._codes, dtype="<u2").tofile(self.path / DOCUMENT_COLLECTIONS_FILE)
        np.array(self._chunk_sentences, dtype="<i8").tofile(self.path / CHUNK_SENTENCES_FILE)
        sparse.save(self.path / BM25_DIR)
        manifest = Manifest(
            format_version=FORMAT_VERSION,
            embedder=embedder_json(self.embedder),
            chunker=self.chunker.to_json(),
            index_text=self.index_text_mode,
            counts={
                "documents": len(self._hashes),
                "chunks": len(self._rows),
                "sentences": self.sentence_count,
                "sentence_tokens": self.token_count,
                "skipped": len(skipped),
            },
            created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            next_chunk_id=self._next_id,
            dense=dense.describe(),
            skipped=tuple({"path": s.path, "reason": s.reason} for s in skipped),
            collections=tuple(self._collections) or ("default",),
        )
        text = json.dumps(manifest.to_json(), indent=1, ensure_ascii=False)
        (self.path / MANIFEST_FILE).write_text(text, encoding="utf-8")
        self.path = self.index_dir.publish(self.path)
        self.timings["write"] = time.perf_counter() - t
        self.timings["embed"] = self._batches.seconds
        return self.path
