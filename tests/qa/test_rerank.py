"""The hybrid rerank (qa/search/rerank.py): its order equals a reference written here from its
definition, an updated index reranks exactly as a rebuilt one, and an index without stored
sentences or token signs is searched by the hybrid score alone."""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from pathlib import Path

import numpy as np
import pytest

from index.build import build_index
from index.chunking import ChunkerSettings
from index.embedding import HashingEmbedder, QueryVectors
from index.layout import SENTENCE_TOKEN_COUNTS_FILE, SENTENCE_TOKENS_FILE, SENTENCE_VECTORS_FILE, SENTENCES_FILE
from index.loaders import iter_sources
from index.store import IndexDir, StoredIndex
from index.update import update_index
from qa.answer.extractive import ExtractiveAnswerer
from qa.core.types import Document
from qa.search import rerank
from qa.search.fusion import FusionSettings, fuse
from qa.search.retrieval import Candidates, Retriever

CHUNKER = ChunkerSettings(max_tokens=24, overlap_tokens=8)
WORDS = [
    *("volcano", "lava", "ash", "glacier", "ice", "melting", "river", "delta", "sediment", "ocean", "tides"),
    *("moon", "desert", "dune", "wind", "forest", "canopy", "rain", "soil", "erosion", "mountain", "peak"),
    *("snow", "valley", "lake", "fish", "cats", "purr", "dogs", "bark"),
]
QUERIES = [
    "volcano lava ash",
    "glacier ice melting in the valley",
    "river delta sediment",
    "cats purr and dogs bark",
    "ocean tides follow the moon",
    "desert dune wind erosion",
    "rain on the forest canopy",
]


def text(rng: random.Random, sentences: int) -> str:
    return " ".join(
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))).capitalize() + "." for _ in range(sentences)
    )


def corpus(seed: int = 3, n: int = 14) -> list[Document]:
    rng = random.Random(seed)
    return [Document(f"d{i:02d}.txt", f"D{i}", f"d{i:02d}.txt", text(rng, rng.randint(1, 9))) for i in range(n)]


def built(root: Path, embedder: HashingEmbedder, docs: list[Document]) -> StoredIndex:
    build_index(iter(docs), root, embedder, CHUNKER)
    return IndexDir(root).load(embedder)


# --- the reference: the rerank's definition, written out plainly -------------------------------


def z(values: list[float]) -> list[float]:
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return [(v - mean) / std if std > 1e-9 else 0.0 for v in values]


def sentence_tokens(index: StoredIndex, row: int) -> list[list[float]]:
    """The stored signs of sentence ``row``'s tokens, each as a unit vector of +-1/sqrt(dim)."""
    assert index.sentence_tokens is not None
    counts = [int(c) for c in index.sentence_tokens.counts]
    first = sum(counts[:row])
    dim = index.manifest.embedder["dim"]
    tokens = []
    for bits in index.sentence_tokens.bits[first : first + counts[row]]:
        signs = [(1.0 if (int(bits[d // 8]) >> (7 - d % 8)) & 1 else -1.0) for d in range(dim)]
        tokens.append([s / math.sqrt(dim) for s in signs])
    return tokens


def match(question: np.ndarray, tokens: list[list[float]]) -> float:
    """Mean over the question's tokens of the best dot product with one of ``tokens``."""
    return sum(max(sum(float(a) * b for a, b in zip(q, t, strict=True)) for t in tokens) for q in question) / len(
        question
    )


def reference(index: StoredIndex, query: QueryVectors, rows, dense, bm25) -> list[tuple[int, float]]:
    """(candidate, score) best first, as qa/search/rerank.py defines the reranked hybrid order."""
    n = len(rows)
    zd, zb = z(list(dense)), z(list(bm25))
    hybrid = [0.5 * zd[i] + 0.5 * zb[i] for i in range(n)]
    by_hybrid = sorted(range(n), key=lambda i: (-hybrid[i], i))
    top, rest = by_hybrid[: rerank.DEPTH], by_hybrid[rerank.DEPTH :]
    chunk_match, sentence_match = [], []
    for i in top:
        chunk_id = int(index.chunks["id"][rows[i]])
        sentences = [r for r in range(len(index.sentences)) if int(index.sentences[r]["chunk"]) == chunk_id]
        tokens = [sentence_tokens(index, r) for r in sentences]
        tokens = [t for t in tokens if t]
        chunk_match.append(match(query.tokens, [t for s in tokens for t in s]) if tokens else 0.0)
        sentence_match.append(max(match(query.tokens, s) for s in tokens) if tokens else 0.0)
    w = rerank.FUSION.dense_weight
    zc, zs = z(chunk_match), z(sentence_match)
    scores = {
        i: w * zd[i] + (1 - w) * zb[i] + rerank.TOKEN_WEIGHT * zc[j] + rerank.SENTENCE_WEIGHT * zs[j]
        for j, i in enumerate(top)
    }
    ranked = sorted(top, key=lambda i: (-scores[i], i))
    return [(i, scores[i]) for i in ranked] + [(i, hybrid[i]) for i in rest]


@pytest.mark.parametrize("depth", [rerank.DEPTH, 3])
def test_the_reranked_order_equals_the_reference(
    tmp_path: Path, fake_embedder: HashingEmbedder, monkeypatch: pytest.MonkeyPatch, depth: int
) -> None:
    monkeypatch.setattr(rerank, "DEPTH", depth)  # 3: most candidates are left below the rescored ones
    index = built(tmp_path / "idx", fake_embedder, corpus())
    retriever = Retriever(index, fake_embedder)
    changed = 0
    for question in QUERIES:
        query = fake_embedder.embed_query(question)
        candidates = retriever.candidates(question, retriever.fusion.depth, vector=query.vector)
        expected = reference(index, query, candidates.rows, candidates.dense, candidates.bm25)
        hits = retriever.search(question, k=len(candidates.rows), vector=query)
        ids = [int(index.chunks["id"][candidates.rows[i]]) for i, _ in expected]
        assert [h.chunk_id for h in hits] == ids
        top = min(depth, len(expected))
        np.testing.assert_allclose([h.score for h in hits[:top]], [s for _, s in expected[:top]], rtol=1e-5, atol=1e-6)
        assert all(a.score >= b.score for a, b in itertools.pairwise(hits))  # scores say the order
        plain = np.argsort(-hybrid_of(candidates), kind="stable").tolist()
        changed += [i for i, _ in expected] != plain
    assert changed  # the rerank really reorders some of these questions


def hybrid_of(candidates: Candidates) -> np.ndarray:
    return fuse(candidates.dense, candidates.bm25, FusionSettings())


def test_the_query_vectors_are_made_once_and_shared(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    index = built(tmp_path / "idx", fake_embedder, corpus())
    retriever = Retriever(index, fake_embedder)
    question = QUERIES[1]
    query = fake_embedder.embed_query(question)
    given = retriever.search(question, k=6, vector=query)
    assert retriever.search(question, k=6) == given  # made by search itself
    assert retriever.search(question, k=6, vector=query.vector) == given  # a bare vector: tokens made as needed

    calls: list[str] = []

    class Counting(HashingEmbedder):
        def embed_query(self, text: str) -> QueryVectors:
            calls.append(text)
            return super().embed_query(text)

    counting = Counting(dim=fake_embedder.dim)
    answerer = ExtractiveAnswerer(Retriever(index, counting), counting)
    answer = answerer.answer(question)
    assert calls == [question]  # one forward pass for the search and the evidence
    assert [h.chunk_id for h in answer.hits] == [h.chunk_id for h in given[:5]]


def test_an_updated_index_reranks_as_a_rebuilt_one(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    rng = random.Random(7)
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(10):
        (docs / f"d{i:02d}.txt").write_text(text(rng, rng.randint(1, 9)), encoding="utf-8")
    root = tmp_path / "idx"
    update_index([docs], root, fake_embedder, CHUNKER)
    for step in range(3):  # add, edit and delete, then update
        names = sorted(p.name for p in docs.iterdir())
        (docs / names[step]).unlink()
        edited = docs / names[-1 - step]
        edited.write_text(text(rng, 2) + " " + edited.read_text(), encoding="utf-8")
        (docs / f"new{step}.txt").write_text(text(rng, rng.randint(2, 8)), encoding="utf-8")
        update_index([docs], root, fake_embedder, prune=True)
    fresh = tmp_path / "fresh"
    build_index(iter_sources([docs]), fresh, fake_embedder, CHUNKER)

    def rankings(folder: Path) -> list[list[tuple]]:
        retriever = Retriever(IndexDir(folder).load(fake_embedder), fake_embedder)
        return [[(h.doc_id, h.start, h.end, round(h.score, 6)) for h in retriever.search(q, k=10)] for q in QUERIES]

    assert rankings(root) == rankings(fresh)


@pytest.mark.parametrize(
    "removed",
    [
        (SENTENCES_FILE, SENTENCE_VECTORS_FILE, SENTENCE_TOKEN_COUNTS_FILE, SENTENCE_TOKENS_FILE),
        (SENTENCE_TOKEN_COUNTS_FILE, SENTENCE_TOKENS_FILE),
    ],
)
def test_an_index_without_token_signs_searches_by_the_hybrid_score(
    tmp_path: Path, fake_embedder: HashingEmbedder, removed: tuple[str, ...]
) -> None:
    index = built(tmp_path / "idx", fake_embedder, corpus())
    for name in removed:
        (index.path / name).unlink()
    old = IndexDir(tmp_path / "idx").load(fake_embedder)
    assert old.sentence_tokens is None and not rerank.can_rerank(old)
    retriever = Retriever(old, fake_embedder)
    for question in QUERIES:
        candidates = retriever.candidates(question, retriever.fusion.depth)
        hybrid = hybrid_of(candidates)
        order = np.argsort(-hybrid, kind="stable")
        hits = retriever.search(question, k=len(order))
        assert [h.chunk_id for h in hits] == [int(old.chunks["id"][candidates.rows[i]]) for i in order]
        np.testing.assert_allclose([h.score for h in hits], hybrid[order])


def test_dense_and_bm25_modes_are_not_reranked(tmp_path: Path, fake_embedder: HashingEmbedder) -> None:
    index = built(tmp_path / "idx", fake_embedder, corpus())
    plain = dataclasses.replace(index, sentence_tokens=None)
    for mode in ("dense", "bm25"):
        for question in QUERIES:
            a = Retriever(index, fake_embedder).search(question, k=8, mode=mode)
            b = Retriever(plain, fake_embedder).search(question, k=8, mode=mode)
            assert a == b
