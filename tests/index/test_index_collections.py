"""Collections: every document belongs to one (``default`` unless told), stored per document row in
the generation, and a search limited to some collections only ever returns their documents, as many
as asked for even when the collection is small (qa/search/retrieval.py, index/dense.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index.build import build_index
from index.chunking import ChunkerSettings
from index.embedding import HashingEmbedder
from index.layout import DOCUMENT_COLLECTIONS_FILE, MANIFEST_FILE
from index.store import IndexDir
from index.update import update_index
from qa.core.errors import BadCollection
from qa.core.types import Document
from qa.search.retrieval import Retriever

CHUNKER = ChunkerSettings(max_tokens=24, overlap_tokens=0)
WORDS = [
    "amber",
    "basalt",
    "cobalt",
    "dune",
    "ember",
    "fjord",
    "garnet",
    "harbor",
    "indigo",
    "juniper",
    "kelp",
    "lagoon",
    "meadow",
    "nickel",
    "orchid",
]


def _text(i: int) -> str:
    """Document ``i``: a few sentences naming its own rare words, and some words other documents share."""
    own = f"zq{i}x wv{i}y"
    shared = " ".join(WORDS[(i + j) % len(WORDS)] for j in range(4))
    return (
        f"The report on {own} covers the {shared} survey. "
        f"Field teams measured {own} near the {WORDS[i % len(WORDS)]} site over three seasons. "
        f"Their finding about {own} is that it doubles every {i + 2} years. "
        f"Later work on {shared} did not revisit {own}."
    )


def _collection(i: int) -> str:
    return "tiny" if i == 7 else ("red" if i < 20 else "default")


def _documents(keep=lambda i: True) -> list[Document]:
    return [
        Document(f"d{i:02d}.txt", f"note {i}", f"d{i:02d}.txt", _text(i), collection=_collection(i))
        for i in range(50)
        if keep(i)
    ]


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("collections")
    embedder = HashingEmbedder(64)
    roots = {"all": folder / "all", "red": folder / "red", "tiny": folder / "tiny"}
    build_index(_documents(), roots["all"], embedder, CHUNKER)
    build_index(_documents(lambda i: _collection(i) == "red"), roots["red"], embedder, CHUNKER)
    build_index(_documents(lambda i: i == 7), roots["tiny"], embedder, CHUNKER)
    return roots


def _retriever(root: Path) -> Retriever:
    embedder = HashingEmbedder(64)
    return Retriever(IndexDir(root).load(embedder), embedder)


def test_documents_keep_their_collection(indexes: dict[str, Path]) -> None:
    stored = IndexDir(indexes["all"]).load()
    assert stored.document("d07.txt").collection == "tiny"
    assert stored.document("d03.txt").collection == "red" and stored.document("d33.txt").collection == "default"
    assert set(stored.manifest.collections) == {"red", "tiny", "default"}
    assert [stored.collection_of(r) for r in range(len(stored.documents))] == [_collection(i) for i in range(50)]


def test_counts_are_those_of_the_collections_asked(indexes: dict[str, Path]) -> None:
    stored = IndexDir(indexes["all"]).load()
    for name in ("red", "tiny"):
        alone = IndexDir(indexes[name]).load()  # built from that collection's documents only
        assert stored.counts(frozenset({name})) == (len(alone.documents), len(alone.chunks))
    assert stored.counts() == stored.counts(frozenset({"red", "tiny", "default"})) == (50, len(stored.chunks))
    assert stored.counts(frozenset({"blue"})) == (0, 0)


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_a_limited_search_sees_only_its_collections(indexes: dict[str, Path], mode: str) -> None:
    everything, reference = _retriever(indexes["all"]), _retriever(indexes["red"])
    for i in (0, 5, 19, 30):
        query = f"What doubles about zq{i}x wv{i}y?"
        hits = everything.search(query, k=6, mode=mode, collections=frozenset({"red"}))
        expected = reference.search(query, k=6, mode=mode)
        assert len(hits) == 6
        assert all(h.doc_id in {d.doc_id for d in _documents(lambda j: _collection(j) == "red")} for h in hits)
        if mode == "dense":  # the same vectors: the same passages, scores and order as an index of red alone
            assert [(h.doc_id, h.start, h.end) for h in hits] == [(h.doc_id, h.start, h.end) for h in expected]
            assert np.allclose([h.score for h in hits], [h.score for h in expected], atol=1e-5)
        else:  # BM25's term statistics are the whole index's: the best passage is still the same
            assert hits[0].doc_id == expected[0].doc_id
        if i < 20:
            assert hits[0].doc_id == f"d{i:02d}.txt"
    assert everything.search("zq30x", k=3, mode=mode, collections=frozenset({"nothing-here"})) == []


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_a_one_document_collection_still_answers_first(indexes: dict[str, Path], mode: str) -> None:
    everything, alone = _retriever(indexes["all"]), _retriever(indexes["tiny"])
    query = "What did field teams measure about zq7x wv7y?"
    hits = everything.search(query, k=3, mode=mode, collections=frozenset({"tiny"}))
    assert hits and hits[0].doc_id == "d07.txt" and {h.doc_id for h in hits} == {"d07.txt"}
    assert len(hits) == min(3, len(alone.index.chunks))
    # Outside its collection the question finds other documents, never d07 (it is hidden from red).
    assert all(h.doc_id != "d07.txt" for h in everything.search(query, k=10, mode=mode, collections=frozenset({"red"})))
    # No limit (the CLI): as before, everything.
    assert len({h.doc_id for h in everything.search(query, k=10, mode=mode)}) > 1


def test_a_retriever_within_collections_limits_every_search(indexes: dict[str, Path]) -> None:
    red = _retriever(indexes["all"]).within(frozenset({"red"}))
    assert all(int(h.doc_id[1:3]) < 20 for h in red.search("zq30x wv30y", k=8))
    assert red.search("zq3x", k=3, collections=frozenset({"tiny"})) == []  # the two limits meet


def test_update_assigns_and_prunes_within_a_collection(tmp_path: Path) -> None:
    embedder = HashingEmbedder(64)
    base, extra = tmp_path / "base", tmp_path / "extra"
    base.mkdir()
    extra.mkdir()
    for i in range(3):
        (base / f"b{i}.txt").write_text(_text(i), encoding="utf-8")
        (extra / f"e{i}.txt").write_text(_text(10 + i), encoding="utf-8")
    root = tmp_path / "idx"
    update_index([base], root, embedder, CHUNKER)
    report = update_index([extra], root, embedder, CHUNKER, collection="blue")
    assert report.added == 3 and report.kept == 3
    stored = IndexDir(root).load()
    assert {d.doc_id: d.collection for d in stored.documents} == {
        **{f"b{i}.txt": "default" for i in range(3)},
        **{f"e{i}.txt": "blue" for i in range(3)},
    }
    # Without --collection a document keeps its collection; --prune with one prunes only in it.
    (extra / "e2.txt").unlink()
    again = update_index([extra], root, embedder, CHUNKER, prune=True, collection="blue")
    assert again.removed == 1 and again.kept == 3 and again.unchanged == 2
    kept = update_index([extra], root, embedder, CHUNKER)
    assert kept.unchanged == 2 and not kept.published
    # Moving a document to another collection re-writes it (its vectors are reused).
    moved = update_index([base], root, embedder, CHUNKER, collection="green")
    assert moved.changed == 3 and moved.chunks_embedded == 0
    assert IndexDir(root).load().document("b1.txt").collection == "green"
    with pytest.raises(BadCollection, match="'Bad Name'"):
        update_index([base], root, embedder, CHUNKER, collection="Bad Name")
    with pytest.raises(BadCollection, match="'-x'"):
        Document("a", "a", "a", "text", collection="-x")


def test_a_generation_written_before_collections_is_all_default(tmp_path: Path) -> None:
    embedder = HashingEmbedder(64)
    root = tmp_path / "old"
    build_index(_documents(lambda i: i < 4), root, embedder, CHUNKER, collection="default")
    generation = IndexDir(root).current()
    (generation / DOCUMENT_COLLECTIONS_FILE).unlink()
    manifest = json.loads((generation / MANIFEST_FILE).read_text())
    del manifest["collections"]
    (generation / MANIFEST_FILE).write_text(json.dumps(manifest))
    retriever = _retriever(root)
    assert retriever.index.collection_of(0) == "default"
    assert retriever.search("zq2x", k=2, collections=frozenset({"default"}))[0].doc_id == "d02.txt"
    assert retriever.search("zq2x", k=2, collections=frozenset({"red"})) == []


@pytest.mark.parametrize("allowed_rows", [7, 1200])
def test_the_approximate_index_searches_only_allowed_rows(allowed_rows: int) -> None:
    from index.dense import DenseIndex, DenseSettings

    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((1500, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    dense = DenseIndex.build(np.arange(1500, dtype=np.int64) * 10, vectors, DenseSettings(threshold=1024))
    assert dense.kind != "exact"
    allowed = np.zeros(1500, dtype=bool)
    allowed[rng.choice(1500, size=allowed_rows, replace=False)] = True
    found = []
    for row in np.flatnonzero(allowed)[:20]:
        query = vectors[row]
        scores, ids = dense.search(query, 5, allowed=allowed)
        exact = np.flatnonzero(allowed)[np.argsort(-(vectors[allowed] @ query), kind="stable")[:5]]
        assert len(ids) == 5 and all(allowed[ids // 10]) and np.all(np.diff(scores) <= 1e-6)
        if allowed_rows < 10:  # too few for the graph: the exact scan over the allowed rows
            assert list(ids) == list(exact * 10)
        found.append(len(set(ids // 10) & set(exact)) / 5)
    # The graph is approximate (and its build depends on thread scheduling): recall, not identity.
    assert np.mean(found) >= 0.9, found
