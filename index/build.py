"""Full index build: stream documents, chunk, embed in batches, write and publish a generation.

Documents are streamed (written to disk as they come), and chunk texts are embedded in
batches, so the whole corpus never sits in memory as vectors-plus-documents at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.chunking import ChunkerSettings, chunk_document
from index.dense import DenseIndex
from index.embedding import Embedder
from index.loaders import Skipped
from index.sparse import SparseIndex
from index.store import CHUNK_DTYPE, FORMAT_VERSION, IndexDir, Manifest, document_to_json, index_text
from qa.types import Document

DEFAULT_INDEX_TEXT = "title+chunk"
_EMBED_BATCH = 4096  # larger groups let the encoder sort by length with less padding


@dataclass(frozen=True, slots=True)
class BuildReport:
    path: Path
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


def build_index(
    sources: Iterable[Document | Skipped],
    root: Path,
    embedder: Embedder,
    chunker: ChunkerSettings = ChunkerSettings(),
    index_text_mode: str = DEFAULT_INDEX_TEXT,
    on_document: Callable[[Document | Skipped, int], None] | None = None,
) -> BuildReport:
    """Build a new generation from ``sources`` and publish it as the current one.

    ``on_document(item, n_chunks_so_far)`` is called after each source item (progress bars).
    The previous generation stays current until the new one is completely written.
    """
    began = time.perf_counter()
    timings = {"chunk": 0.0, "embed": 0.0, "bm25": 0.0, "write": 0.0}
    index_dir = IndexDir(root)
    generation = index_dir.new_generation()
    dense = DenseIndex(embedder.dim)
    skipped: list[Skipped] = []
    hashes: dict[str, str] = {}
    rows: list[tuple[int, int, int, int, int]] = []
    texts: list[str] = []
    pending: list[str] = []
    next_id = 0

    def flush() -> None:
        t = time.perf_counter()
        vectors = embedder.embed(pending)
        timings["embed"] += time.perf_counter() - t
        first = len(rows) - len(pending)
        dense.add(np.array([r[0] for r in rows[first:]], dtype=np.int64), vectors)
        pending.clear()

    with open(generation / "documents.jsonl", "w", encoding="utf-8") as doc_file:
        for item in sources:
            if isinstance(item, Skipped):
                skipped.append(item)
            else:
                t = time.perf_counter()
                chunks = chunk_document(item, chunker)
                timings["chunk"] += time.perf_counter() - t
                doc_row = len(hashes)
                hashes[item.doc_id] = item.content_hash
                doc_file.write(json.dumps(document_to_json(item), ensure_ascii=False) + "\n")
                for chunk in chunks:
                    rows.append((next_id, doc_row, chunk.start, chunk.end, chunk.n_tokens))
                    text = index_text(item, chunk.text, index_text_mode)
                    texts.append(text)
                    pending.append(text)
                    next_id += 1
                if len(pending) >= _EMBED_BATCH:
                    flush()
            if on_document is not None:
                on_document(item, len(rows))
    if pending:
        flush()

    t = time.perf_counter()
    chunk_table = np.array(rows, dtype=CHUNK_DTYPE) if rows else np.zeros(0, dtype=CHUNK_DTYPE)
    sparse = SparseIndex.build(chunk_table["id"], texts)
    timings["bm25"] = time.perf_counter() - t

    t = time.perf_counter()
    np.save(generation / "chunks.npy", chunk_table)
    dense.save(generation / "dense.faiss")
    sparse.save(generation / "bm25")
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        embedder={"name": embedder.name, "dim": embedder.dim, "fingerprint": embedder.fingerprint},
        chunker=chunker.to_json(),
        index_text=index_text_mode,
        documents=hashes,
        counts={"documents": len(hashes), "chunks": len(rows), "skipped": len(skipped)},
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        next_chunk_id=next_id,
        skipped=tuple({"path": s.path, "reason": s.reason} for s in skipped),
    )
    (generation / "manifest.json").write_text(json.dumps(manifest.to_json(), indent=1, ensure_ascii=False))
    final = index_dir.publish(generation)
    timings["write"] = time.perf_counter() - t
    return BuildReport(final, len(hashes), len(rows), tuple(skipped), time.perf_counter() - began, timings)
