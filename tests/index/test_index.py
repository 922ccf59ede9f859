"""Build, persist, reload and search an index with a deterministic fake embedder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from index.build import build_index
from index.chunking import ChunkerSettings
from index.dense import DenseIndex, DenseSettings
from index.embedding import HashingEmbedder
from index.store import IndexDir
from index.tables import document_state
from qa.core.errors import BadQuery, IndexMismatch, IndexNotFound
from qa.core.types import Document, PageSpan
from qa.search.fusion import FusionSettings
from qa.search.retrieval import Retriever

DOCS = [
    Document("cats.txt", "Cats", "cats.txt", "Cats purr when they are content. A cat sleeps for most of the day."),
    Document("dogs.txt", "Dogs", "dogs.txt", "Dogs bark at strangers. A dog needs a walk every day."),
    Document(
        "paper.pdf",
        "Paper",
        "paper.pdf",
        "Page one is about volcanoes erupting.\n\nPage two is about glaciers melting slowly.",
        pages=(PageSpan(1, 0, 37), PageSpan(2, 39, 80)),
    ),
    Document("empty-ish.txt", "", "x", "   "),
]


@pytest.fixture
def built(tmp_path: Path, fake_embedder: HashingEmbedder) -> Path:
    build_index(iter(DOCS), tmp_path / "idx", fake_embedder, ChunkerSettings(max_tokens=12, overlap_tokens=0))
    return tmp_path / "idx"


def test_build_writes_a_manifest_and_a_current_generation(built: Path, fake_embedder: HashingEmbedder) -> None:
    index_dir = IndexDir(built)
    manifest = index_dir.manifest()
    assert manifest.format_version == 2
    assert manifest.embedder == {
        "name": "hashing:64",
        "dim": 64,
        "fingerprint": "hashing:64",
        "backend": "numpy",
        "quantization": "none",
    }
    assert manifest.chunker == {"max_tokens": 12, "overlap_tokens": 0, "tokenizer": "cl100k_base"}
    assert manifest.dense == {"kind": "exact", **DenseSettings().to_json()}
    hashes = index_dir.hashes()  # in their own table, not in the manifest
    assert "documents" not in json.loads((index_dir.current() / "manifest.json").read_text())
    assert all(hashes.state(d.doc_id) == document_state(d) for d in DOCS) and len(hashes) == len(DOCS)
    stored = index_dir.load(fake_embedder)
    assert manifest.counts == {
        "documents": 4,
        "chunks": len(stored.chunks),
        "sentences": len(stored.sentences),
        "sentence_tokens": len(stored.sentence_tokens.bits),
        "skipped": 0,
    }
    # The fake embedder's tokens are the words: one sign row (64 dims, 8 bytes) per word of each sentence.
    doc_of_chunk = {int(c["id"]): stored.documents[int(c["doc"])].text for c in stored.chunks}
    words = [len(re.findall(r"\w+", doc_of_chunk[int(s["chunk"])][s["start"] : s["end"]])) for s in stored.sentences]
    assert stored.sentence_tokens.counts.tolist() == words
    assert stored.sentence_tokens.bits.shape == (sum(words), 8)
    assert len(stored.dense) == len(stored.sparse) == len(stored.chunks) > 3
    assert list(stored.chunks["id"]) == list(range(len(stored.chunks)))
    assert (built / "CURRENT").read_text().strip() == index_dir.current().name


def test_hits_are_exact_spans_with_pages(built: Path, fake_embedder: HashingEmbedder) -> None:
    retriever = Retriever(IndexDir(built).load(fake_embedder), fake_embedder)
    for mode in ("hybrid", "dense", "bm25"):
        hits = retriever.search("glaciers melting", k=3, mode=mode)
        assert hits[0].doc_id == "paper.pdf" and hits[0].page == 2
        for hit in hits:
            doc = next(d for d in DOCS if d.doc_id == hit.doc_id)
            assert doc.text[hit.start : hit.end] == hit.text
    hit = retriever.search("volcanoes", k=1)[0]
    assert hit.page == 1
    as_json = hit.to_json()
    assert set(as_json) == {"doc_id", "title", "source", "page", "start", "end", "boxes", "text", "score", "scores"}
    assert set(as_json["scores"]) == {"dense", "bm25"}
    json.dumps(as_json)


def test_bad_queries_are_refused(built: Path, fake_embedder: HashingEmbedder) -> None:
    retriever = Retriever(IndexDir(built).load(fake_embedder), fake_embedder)
    with pytest.raises(BadQuery, match="mode 'fuzzy'"):
        retriever.search("cats", mode="fuzzy")
    with pytest.raises(BadQuery, match="empty"):
        retriever.search("  ")


def test_manifest_mismatches_name_both_values(built: Path) -> None:
    index_dir = IndexDir(built)
    with pytest.raises(IndexMismatch, match=r"'hashing:64'.*'hashing:32'"):
        index_dir.load(HashingEmbedder(dim=32))
    with pytest.raises(IndexMismatch, match="chunker"):
        index_dir.load(chunker=ChunkerSettings(max_tokens=200, overlap_tokens=40))
    manifest_path = index_dir.current() / "manifest.json"
    data = json.loads(manifest_path.read_text())
    data["format_version"] = 99
    manifest_path.write_text(json.dumps(data))
    with pytest.raises(IndexMismatch, match="format 99"):
        index_dir.load()


def test_missing_index_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFound, match="qa index build"):
        IndexDir(tmp_path / "nowhere").load()


def test_a_failed_build_leaves_the_previous_generation_current(built: Path, fake_embedder: HashingEmbedder) -> None:
    before = IndexDir(built).current()

    def broken():
        yield DOCS[0]
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        build_index(broken(), built, fake_embedder)
    assert IndexDir(built).current() == before
    assert Retriever(IndexDir(built).load(fake_embedder), fake_embedder).search("cats", k=1)


def test_rebuild_publishes_a_new_generation_and_prunes_old_ones(built: Path, fake_embedder: HashingEmbedder) -> None:
    for _ in range(3):
        build_index(iter(DOCS[:2]), built, fake_embedder)
    finished = [p for p in (built / "generations").iterdir() if not p.name.endswith(".tmp")]
    assert len(finished) == 2
    assert IndexDir(built).manifest().counts["documents"] == 2


def test_empty_corpus_builds_an_empty_index(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    build_index(iter([]), tmp_path, fake_embedder)
    stored = IndexDir(tmp_path).load(fake_embedder)
    assert Retriever(stored, fake_embedder).search("anything") == []


def test_faiss_search_matches_numpy_argsort() -> None:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(500, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = rng.choice(10**12, size=500, replace=False).astype(np.int64)
    dense = DenseIndex.build(ids, vectors)
    for _ in range(20):
        query = vectors[rng.integers(500)] + rng.normal(scale=0.3, size=32).astype(np.float32)
        query /= np.linalg.norm(query)
        scores, found = dense.search(query, 10)
        reference = np.argsort(-(vectors @ query), kind="stable")[:10]
        assert list(found) == list(ids[reference])
        np.testing.assert_allclose(scores, (vectors @ query)[reference], rtol=1e-5)
    np.testing.assert_allclose(dense.vectors(ids[5:7]), vectors[5:7])


def test_hybrid_keeps_a_confident_bm25_winner(built: Path, fake_embedder: HashingEmbedder) -> None:
    stored = IndexDir(built).load(fake_embedder)
    for settings in (FusionSettings("zscore", 0.3), FusionSettings("minmax", 0.3), FusionSettings("rrf", 0.5)):
        top = Retriever(stored, fake_embedder, settings).search("strangers bark", k=1)[0]
        assert top.doc_id == "dogs.txt"
