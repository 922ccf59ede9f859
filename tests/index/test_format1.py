"""An index written in format 1 (hashes in the manifest, vectors in a flat faiss index, no offset
tables) is still read and searched, and its next update writes format 2 equal to a rebuild."""

from __future__ import annotations

import json
from pathlib import Path

import faiss  # only to write the format-1 fixture, as the format-1 writer did
import numpy as np

from index.build import build_index
from index.chunking import ChunkerSettings
from index.embedding import HashingEmbedder
from index.layout import (
    CHUNK_SENTENCES_FILE,
    CHUNKS_FILE,
    DENSE_FILE,
    DOCUMENT_HASHES_FILE,
    DOCUMENT_OFFSETS_FILE,
    MANIFEST_FILE,
    VECTORS_FILE,
    read_documents,
)
from index.loaders import iter_sources
from index.store import IndexDir
from index.update import update_index
from qa.search.retrieval import Retriever

CHUNKER = ChunkerSettings(max_tokens=24, overlap_tokens=6)
FILES = {
    "rivers.txt": "The Nile flows north through Egypt. Its delta is green. Rivers carry sediment to the sea.",
    "ice.txt": "Glaciers melt in spring. Ice sheets cover Greenland. Sea level rises as the ice melts.",
    "cats.txt": "Cats purr when they are content. A cat sleeps most of the day. Dogs bark at strangers.",
}
QUERIES = ["nile delta", "glaciers melting ice", "cats purr"]


def as_format_1(generation: Path) -> None:
    """Rewrite a format-2 generation the way format 1 stored it."""
    manifest = json.loads((generation / MANIFEST_FILE).read_text())
    chunks = np.load(generation / CHUNKS_FILE)
    vectors = np.fromfile(generation / VECTORS_FILE, dtype="<f4").reshape(len(chunks), manifest["embedder"]["dim"])
    flat = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
    flat.add_with_ids(vectors, chunks["id"].astype(np.int64))
    faiss.write_index(flat, str(generation / DENSE_FILE))
    for name in (VECTORS_FILE, DOCUMENT_OFFSETS_FILE, DOCUMENT_HASHES_FILE, CHUNK_SENTENCES_FILE):
        (generation / name).unlink()
    manifest["format_version"] = 1
    del manifest["dense"]
    manifest["documents"] = {d.doc_id: d.content_hash for d in read_documents(generation)}
    (generation / MANIFEST_FILE).write_text(json.dumps(manifest))


def results(root: Path, embedder: HashingEmbedder) -> list:
    stored = IndexDir(root).load(embedder)
    retriever = Retriever(stored, embedder)
    return [
        [(h.doc_id, h.start, h.end, h.text, round(h.score, 6)) for h in retriever.search(q, 5, mode)]
        for q in QUERIES
        for mode in ("hybrid", "dense", "bm25")
    ]


def test_a_format_1_index_is_read_and_updated_to_format_2(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in FILES.items():
        (docs / name).write_text(text, encoding="utf-8")
    root = tmp_path / "idx"
    build_index(iter_sources([docs]), root, fake_embedder, CHUNKER)
    expected = results(root, fake_embedder)
    generation = IndexDir(root).current()
    as_format_1(generation)

    old = IndexDir(root).load(fake_embedder)
    assert old.manifest.format_version == 1 and old.dense.kind == "exact"
    assert results(root, fake_embedder) == expected
    assert "ice.txt" in IndexDir(root).hashes() and old.document("ice.txt").text == FILES["ice.txt"]
    assert [len(old.sentence_rows(int(i))) for i in old.chunks["id"]] == np.diff(old.chunk_sentences).tolist()

    (docs / "cats.txt").write_text(FILES["cats.txt"] + " Cats also hunt mice at night.", encoding="utf-8")
    report = update_index([docs], root, fake_embedder)
    assert (report.unchanged, report.changed) == (2, 1)
    assert IndexDir(root).manifest().format_version == 2
    fresh = tmp_path / "fresh"
    build_index(iter_sources([docs]), fresh, fake_embedder, CHUNKER)
    assert results(root, fake_embedder) == results(fresh, fake_embedder)
