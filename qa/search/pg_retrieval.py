"""Search over a PostgreSQL store (index/postgres): candidates come from SQL, ranking is shared.

The dense and BM25 candidates are found in the store (pgvector, the postings table); the rows
they name, with their documents, sentences and token signs, are read in the same snapshot into
a small ``StoredIndex``, and from there fusion, the token-match rerank and the answerer run
exactly as over a file index. Each question gets its own ``PgRetriever`` (``Engine.answerer``):
its ``index`` is the slice its last search read, which the answer goes on to read.
"""

from __future__ import annotations

import numpy as np

from index.embedding import Embedder
from index.generation import StoredIndex
from index.postgres.reader import PgStore
from qa.core.types import Hit
from qa.search.fusion import FusionSettings
from qa.search.retrieval import Candidates, Retriever, meet


class PgRetriever(Retriever):
    def __init__(
        self,
        store: PgStore,
        embedder: Embedder,
        fusion: FusionSettings = FusionSettings(),
        collections: frozenset[str] | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.fusion = fusion
        self.collections = collections
        self._slice: StoredIndex | None = None

    @property
    def index(self) -> StoredIndex:  # type: ignore[override]
        """The rows the last search (or ``cover``) read from the store."""
        if self._slice is None:
            with self.store.snapshot() as snap:
                self._slice = snap.slice([])
        return self._slice

    def within(self, collections: frozenset[str] | None) -> PgRetriever:
        if collections is None:
            return self
        return PgRetriever(self.store, self.embedder, self.fusion, meet(self.collections, frozenset(collections)))

    def reranks(self) -> bool:
        return True  # every store generation keeps token signs

    def found(
        self, query: str, depth: int, vector: np.ndarray | None, allowed: frozenset[str] | None
    ) -> tuple[StoredIndex, Candidates] | None:
        if vector is None:
            vector = self.embedder.embed([query])[0]
        with self.store.snapshot() as snap:
            dense_ids = snap.dense(vector, depth, allowed)
            bm25 = snap.bm25(query, depth, allowed)
            ids = sorted(set(dense_ids) | set(bm25))
            missing = [i for i in ids if i not in bm25]
            bm25.update(snap.bm25(query, None, allowed, only=missing))
            self._slice = snap.slice(ids)
        if not ids:
            return None
        index = self._slice
        rows = np.arange(len(index.chunks))  # the slice holds exactly the candidates, in id order
        dense = index.dense.vectors(index.chunks["id"]) @ np.asarray(vector, dtype=np.float32)
        scores = np.array([bm25.get(int(i), 0.0) for i in index.chunks["id"]], dtype=np.float64)
        return index, Candidates(rows, dense.astype(np.float64), scores)

    def cover(self, hits: list[Hit]) -> None:
        with self.store.snapshot() as snap:
            self._slice = snap.slice(sorted({h.chunk_id for h in hits}))
