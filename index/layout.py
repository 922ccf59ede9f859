"""The on-disk contract of an index directory: file names, record formats and the manifest.

Layout of an index directory::

    CURRENT                      name of the published generation (replaced by rename)
    index.lock                   the writers' lock and who holds it (index/lock.py)
    generations/<name>/
        manifest.json            format version, embedder, chunker, dense index, counts, times
        documents.jsonl          one stored Document a line (citations are checked against it)
        documents.offsets        int64 byte offset of each line of documents.jsonl, and its length
        documents.hashes.npy     per document id: hash of its text, title, pages and collection, and
                                 its row; sorted by a hash of the id (index/tables.py)
        documents.collections.u2 uint16 per document row: its collection, an index into the
                                 manifest's ``collections`` names (a generation without it: every
                                 document is in ``default``)
        chunks.npy               chunk id, document row, start, end, tokens
        vectors.f32              the float32 vector of each chunk, in chunk row order
        dense.faiss              only past the size threshold: the approximate index over the
                                 vector rows (index/dense.py); below it, search is exact
        bm25/                    BM25 rows aligned with chunks.npy
        sentences.bin            chunk id, start, end of each sentence of each chunk, chunk by chunk
        chunk_sentences.i8       the first sentence row of each chunk, and the number of sentences
        sentence_vectors.f16     a float16 vector per sentence, read in its chunk's context
        sentence_token_counts.i4 how many token rows each sentence has
        sentence_tokens.bits     the sign bits of each sentence's token states, sentence by sentence

Readers map every file of a generation when they load it (numpy and faiss memory maps, bm25s's
``mmap``) and read pages only as questions touch them, so start-up time and memory do not grow
with the corpus. Every file is opened during the load, none later: an unlinked file stays
readable through a mapping made before, so a writer may prune a generation that readers still
hold (docs/index-lifecycle.md).

Format 1 (before memory maps) kept the document hashes in the manifest and the vectors in
``dense.faiss`` as an ``IndexIDMap2`` over ``IndexFlatIP``, and had no offsets, hashes or
``chunk_sentences`` files; it is still read (those parts into memory) and the next update
writes format 2.

The sentence files let an answer score evidence sentences without running the model
(``Embedder.embed_spans``); a generation without them is still read, and its answers embed
their candidate sentences at question time instead (without the token files, answers skip the
token match, index/token_signs.py).

Chunk ids are 64-bit integers handed out from a counter kept in the manifest, never
reused, so that a later update can add and delete documents by id without renumbering.

Generations are named ``gen-<sequence>-<time>``; the sequence orders them, so after a crash the next
writer can tell a published generation from one that was written but never made current. A name
ending in ``.tmp`` (a generation, or ``CURRENT.<random>.tmp``) is unfinished: nothing points at it.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.core.errors import IndexMismatch
from qa.core.types import DEFAULT_COLLECTION, Box, Document, PageSpan, TextBox

if TYPE_CHECKING:
    from index.chunking import ChunkerSettings
    from index.embedding import Embedder

FORMAT_VERSION = 2  # what writers write
READABLE_FORMATS = (1, 2)
CHUNK_DTYPE = np.dtype([("id", "<i8"), ("doc", "<i4"), ("start", "<i4"), ("end", "<i4"), ("tokens", "<i4")])
# Offsets are the document's, like the chunks'; a chunk's sentences are contiguous rows.
SENTENCE_DTYPE = np.dtype([("chunk", "<i8"), ("start", "<i4"), ("end", "<i4")])
REBUILD_HINT = "rebuild it with `qa index update PATH... --rebuild` (or `qa index build PATH...`)"

# In the index directory.
CURRENT_FILE = "CURRENT"
LOCK_FILE = "index.lock"
GENERATIONS_DIR = "generations"
GENERATION_NAME = re.compile(r"gen-(\d{6})-")  # <sequence>, then the time it was begun
TMP_SUFFIX = ".tmp"
# In a generation.
MANIFEST_FILE = "manifest.json"
DOCUMENTS_FILE = "documents.jsonl"
DOCUMENT_OFFSETS_FILE = "documents.offsets"
DOCUMENT_HASHES_FILE = "documents.hashes.npy"
DOCUMENT_COLLECTIONS_FILE = "documents.collections.u2"
CHUNKS_FILE = "chunks.npy"
VECTORS_FILE = "vectors.f32"
DENSE_FILE = "dense.faiss"
BM25_DIR = "bm25"
SENTENCES_FILE = "sentences.bin"
CHUNK_SENTENCES_FILE = "chunk_sentences.i8"
SENTENCE_VECTORS_FILE = "sentence_vectors.f16"
SENTENCE_TOKEN_COUNTS_FILE = "sentence_token_counts.i4"
SENTENCE_TOKENS_FILE = "sentence_tokens.bits"


def new_generation_name(sequence: int) -> str:
    """The folder name of a generation about to be written (unfinished: it ends in ``.tmp``)."""
    return f"gen-{sequence:06d}-{time.strftime('%Y%m%dT%H%M%S')}{TMP_SUFFIX}"


def generation_sequence(name: str) -> int:
    """Sequence number of a generation folder; 0 for names from before sequences existed."""
    match = GENERATION_NAME.match(name)
    return int(match.group(1)) if match else 0


@dataclass(frozen=True, slots=True)
class Manifest:
    format_version: int
    embedder: dict
    chunker: dict
    index_text: str
    counts: dict[str, int]
    created_at: str
    next_chunk_id: int
    dense: dict  # the dense index's kind and settings (index/dense.py, DenseIndex.describe)
    skipped: tuple[dict, ...] = ()
    collections: tuple[str, ...] = (DEFAULT_COLLECTION,)  # the names DOCUMENT_COLLECTIONS_FILE's codes index

    def to_json(self) -> dict:
        return {
            "format_version": self.format_version,
            "embedder": self.embedder,
            "chunker": self.chunker,
            "index_text": self.index_text,
            "counts": self.counts,
            "created_at": self.created_at,
            "next_chunk_id": self.next_chunk_id,
            "dense": self.dense,
            "skipped": list(self.skipped),
            "collections": list(self.collections),
        }

    @classmethod
    def from_json(cls, data: dict) -> Manifest:
        return cls(
            format_version=data["format_version"],
            embedder=data["embedder"],
            chunker=data["chunker"],
            index_text=data["index_text"],
            counts=data["counts"],
            created_at=data["created_at"],
            next_chunk_id=data["next_chunk_id"],
            dense=data.get("dense", {"kind": "exact"}),  # format 1: always exact (its hashes are ignored)
            skipped=tuple(data.get("skipped", ())),
            collections=tuple(data.get("collections", (DEFAULT_COLLECTION,))),
        )

    def check(self, embedder: Embedder | None = None, chunker: ChunkerSettings | None = None) -> None:
        """Raise IndexMismatch, naming both values, when the index was made differently."""
        _check_format(self.format_version)
        if embedder is not None:
            # Named first, as the likelier cause: the same model on another backend. Manifests from
            # before backends record none; their fingerprints differ from the onnx ones anyway.
            built = (self.embedder.get("backend"), self.embedder.get("quantization"))
            ours = (getattr(embedder, "backend", None), getattr(embedder, "quantization", None))
            if None not in (built[0], ours[0]) and built != ours:
                raise IndexMismatch(
                    f"index was embedded by the {built[0]} backend (quantization {built[1]}), not by the"
                    f" {ours[0]} backend (quantization {ours[1]}) asked for: open it with its own backend,"
                    f" or rebuild it with `qa index update PATH... --rebuild --backend {ours[0]}`"
                )
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
    if version not in READABLE_FORMATS:
        readable = " or ".join(map(str, READABLE_FORMATS))
        raise IndexMismatch(f"index format {version} is not a supported format ({readable}); {REBUILD_HINT}")


def read_manifest(generation: Path) -> Manifest:
    """The manifest of a generation; the format version is checked before any other field is read."""
    data = json.loads((generation / MANIFEST_FILE).read_text(encoding="utf-8"))
    _check_format(data.get("format_version") if isinstance(data, dict) else None)
    return Manifest.from_json(data)


def document_to_json(doc: Document) -> dict:
    data = {
        "doc_id": doc.doc_id,
        "title": doc.title,
        "source": doc.source,
        "content_hash": doc.content_hash,
        "pages": [[p.page, p.start, p.end, *([1] if p.navigation else [])] for p in doc.pages],
        "text": doc.text,
    }
    if doc.collection != DEFAULT_COLLECTION:  # a line without it (every line written before) is "default"
        data["collection"] = doc.collection
    if doc.boxes:
        # One flat row per run, coordinates to 1/10,000 of the page: a quarter of the bytes of dicts.
        data["boxes"] = [[r.start, r.end, r.box.page, *_rounded(r.box)] for r in doc.boxes]
    return data


def _rounded(box: Box) -> list[float]:
    return [round(box.x0, 4), round(box.y0, 4), round(box.x1, 4), round(box.y1, 4)]


def document_from_json(data: dict) -> Document:
    pages = tuple(
        PageSpan(page, start, end, bool(rest and rest[0])) for page, start, end, *rest in data.get("pages", ())
    )
    boxes = tuple(
        TextBox(start, end, Box(page, x0, y0, x1, y1)) for start, end, page, x0, y0, x1, y1 in data.get("boxes", ())
    )
    return Document(
        data["doc_id"],
        data["title"],
        data["source"],
        data["text"],
        pages,
        data["content_hash"],
        boxes=boxes,
        collection=data.get("collection", DEFAULT_COLLECTION),
    )


def read_documents(generation: Path) -> tuple[Document, ...]:
    """The documents of a generation as stored on disk, in row order (``chunks.npy``'s ``doc``)."""
    with open(generation / DOCUMENTS_FILE, encoding="utf-8") as lines:
        return tuple(document_from_json(json.loads(line)) for line in lines)
