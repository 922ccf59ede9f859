"""The approximate dense index past the size threshold (lowered here): it finds what exact search
finds, returns exact scores under the chunk ids it was given, keeps the stored vectors, loads
through a memory map, is refused when it does not match, and an update builds it byte for byte
as a rebuild does."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from index.build import build_index
from index.chunking import ChunkerSettings
from index.dense import APPROXIMATE, EXACT, MIN_APPROXIMATE_ROWS, DenseIndex, DenseSettings
from index.embedding import HashingEmbedder
from index.layout import DENSE_FILE, MANIFEST_FILE, VECTORS_FILE
from index.loaders import iter_sources
from index.store import IndexDir
from index.update import update_index
from qa.core.errors import IndexMismatch
from qa.search.retrieval import Retriever

LOWERED = DenseSettings(threshold=1000)
DIM = 32


def clustered(n: int, seed: int, spread: float = 0.6) -> np.ndarray:
    """Unit vectors around 60 centres: neighbourhoods worth searching, unlike uniform noise."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).standard_normal((60, DIM))
    vectors = centres[rng.integers(60, size=n)] + spread * rng.standard_normal((n, DIM))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def stored() -> tuple[np.ndarray, np.ndarray, DenseIndex, DenseIndex]:
    vectors = clustered(3000, seed=1)
    ids = np.random.default_rng(2).choice(10**12, size=len(vectors), replace=False).astype(np.int64)
    return ids, vectors, DenseIndex.build(ids, vectors, LOWERED), DenseIndex.build(ids, vectors)


def test_approximate_search_finds_what_exact_search_finds(stored) -> None:
    ids, _, approximate, exact = stored
    assert (approximate.kind, exact.kind) == (APPROXIMATE, EXACT)
    recalls = []
    for query in clustered(100, seed=3, spread=0.8):
        scores, found = approximate.search(query, 100)  # the depth a hybrid search asks for
        exact_scores, expected = exact.search(query, 100)
        recalls.append(len(set(found[:10]) & set(expected[:10])) / 10)
        assert set(found) <= set(ids) and len(found) == 100
        assert np.all(np.diff(scores) <= 0)  # best first
        # The scores are exact inner products with the stored vectors, whatever proposed the rows.
        np.testing.assert_allclose(scores, approximate.vectors(found) @ query, rtol=1e-6)
        np.testing.assert_allclose(scores[0], exact_scores[0], rtol=1e-6)
    assert np.mean(recalls) >= 0.95


def test_the_stored_vectors_come_back_unchanged(stored) -> None:
    ids, vectors, approximate, _ = stored
    picked = np.random.default_rng(4).permutation(len(ids))[:50]
    np.testing.assert_array_equal(approximate.vectors(ids[picked]), vectors[picked])
    assert approximate.rows(ids[picked]).tolist() == picked.tolist()
    with pytest.raises(IndexMismatch, match="chunk id 7 is not in this index"):
        approximate.vectors(np.array([ids[0], 7]))


def test_small_sets_stay_exact_whatever_the_threshold() -> None:
    vectors = clustered(MIN_APPROXIMATE_ROWS - 1, seed=5)
    dense = DenseIndex.build(np.arange(len(vectors)), vectors, DenseSettings(threshold=1))
    assert dense.kind == EXACT and dense.describe() == {"kind": EXACT, **DenseSettings(threshold=1).to_json()}


CHUNKER = ChunkerSettings(max_tokens=24, overlap_tokens=6)
WORDS = ("volcano", "lava", "ash", "glacier", "ice", "river", "delta", "ocean", "tides", "moon", "desert", "dune")
WORDS += ("forest", "rain", "soil", "wind")
QUERIES = ["volcano lava ash", "glacier ice", "river delta ocean", "desert dune wind", "forest rain soil"]


def write_corpus(folder: Path, n: int, rng: random.Random, prefix: str = "d") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        words = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 10))).capitalize() + "." for _ in range(7)]
        (folder / f"{prefix}{i:03d}.txt").write_text(" ".join(words), encoding="utf-8")


def results(root: Path, embedder: HashingEmbedder) -> list:
    retriever = Retriever(IndexDir(root).load(embedder), embedder)
    return [
        [(h.doc_id, h.start, h.end, round(h.score, 6)) for h in retriever.search(q, 8, mode)]
        for q in QUERIES
        for mode in ("hybrid", "dense", "bm25")
    ]


def test_an_update_builds_the_approximate_index_a_rebuild_builds(tmp_path: Path, fake_embedder) -> None:
    rng = random.Random(7)
    docs = tmp_path / "docs"
    write_corpus(docs, 340, rng)
    root = tmp_path / "idx"
    update_index([docs], root, fake_embedder, CHUNKER, dense=LOWERED)
    first = IndexDir(root).load(fake_embedder)
    assert len(first.chunks) >= MIN_APPROXIMATE_ROWS and first.dense.kind == APPROXIMATE
    assert first.manifest.dense == {
        "kind": APPROXIMATE,
        **LOWERED.to_json(),
        "factory": "HNSW32,PQ16np",
        "train_rows": len(first.chunks),
    }

    for name in sorted(p.name for p in docs.iterdir())[::60]:  # delete some, edit some, add some
        (docs / name).unlink()
    edited = docs / "d007.txt"
    edited.write_text(edited.read_text() + " Tides follow the moon.", encoding="utf-8")
    write_corpus(docs, 5, rng, prefix="new")
    report = update_index([docs], root, fake_embedder, prune=True)  # keeps the index's own dense settings
    assert (report.removed, report.changed, report.added) == (6, 1, 5)

    fresh = tmp_path / "fresh"
    build_index(iter_sources([docs]), fresh, fake_embedder, CHUNKER, dense=LOWERED)
    assert results(root, fake_embedder) == results(fresh, fake_embedder)
    updated, rebuilt = IndexDir(root).current(), IndexDir(fresh).current()
    for name in (DENSE_FILE, VECTORS_FILE):  # the same contents, byte for byte
        assert (updated / name).read_bytes() == (rebuilt / name).read_bytes()
    assert IndexDir(root).manifest().dense == IndexDir(fresh).manifest().dense


def test_a_dense_index_that_does_not_fit_is_refused(tmp_path: Path, fake_embedder) -> None:
    rng = random.Random(8)
    docs = tmp_path / "docs"
    write_corpus(docs, 340, rng)
    build_index(iter_sources([docs]), tmp_path / "a", fake_embedder, CHUNKER, dense=LOWERED)
    (docs / "d000.txt").unlink()
    build_index(iter_sources([docs]), tmp_path / "b", fake_embedder, CHUNKER, dense=LOWERED)
    a, b = IndexDir(tmp_path / "a"), IndexDir(tmp_path / "b")
    shutil.copy(b.current() / DENSE_FILE, a.current() / DENSE_FILE)  # another generation's graph
    with pytest.raises(IndexMismatch, match=r"approximate index of \d+ 64-d vectors"):
        a.load(fake_embedder)
    (a.current() / DENSE_FILE).unlink()
    with pytest.raises(IndexMismatch, match=r"dense\.faiss is missing: the manifest says the dense index is hnsw-pq"):
        a.load(fake_embedder)
    manifest = json.loads((b.current() / MANIFEST_FILE).read_text())
    (b.current() / MANIFEST_FILE).write_text(json.dumps({**manifest, "dense": {"kind": "ivf"}}))
    with pytest.raises(IndexMismatch, match="unknown dense index kind 'ivf'"):
        b.load(fake_embedder)
    with open(b.current() / VECTORS_FILE, "ab") as vectors:
        vectors.write(b"\0" * 8)
    with pytest.raises(IndexMismatch, match="not a whole number of 256-byte rows"):
        b.load(fake_embedder)
