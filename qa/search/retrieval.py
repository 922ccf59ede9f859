"""Dense, BM25 and hybrid search over a stored index, returning citable Hits.

Hybrid search fuses both retrievers' scores (qa/search/fusion.py), then reranks the best
candidates by the question's token match with the token signs the index stores
(qa/search/rerank.py).

With ``collections``, only chunks of documents in those collections are candidates: BM25 scores
of other rows are dropped and the dense search runs over the allowed rows alone
(``DenseIndex.search(allowed=...)``), so ``k`` passages still come back from a small collection.
BM25's term statistics stay those of the whole index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from index.embedding import Embedder, QueryVectors
from index.store import StoredIndex
from qa.core.errors import BadQuery
from qa.core.types import Hit, Scores
from qa.search.fusion import FusionSettings, fuse
from qa.search.rerank import can_rerank, rerank

SEARCH_MODES = ("hybrid", "dense", "bm25")


@dataclass(frozen=True, slots=True)
class Candidates:
    """Rows of the chunk table with both retrievers' exact scores, before fusion."""

    rows: np.ndarray
    dense: np.ndarray
    bm25: np.ndarray


class Retriever:
    def __init__(
        self,
        index: StoredIndex,
        embedder: Embedder,
        fusion: FusionSettings = FusionSettings(),
        collections: frozenset[str] | None = None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.fusion = fusion
        self.collections = collections  # what every search of this retriever is limited to (None: all)

    def within(self, collections: frozenset[str] | None) -> Retriever:
        """This retriever limited to ``collections`` (None: as it is), for an answerer of one caller."""
        if collections is None:
            return self
        return Retriever(self.index, self.embedder, self.fusion, meet(self.collections, frozenset(collections)))

    def search(
        self,
        query: str,
        k: int = 5,
        mode: str = "hybrid",
        vector: QueryVectors | np.ndarray | None = None,
        collections: frozenset[str] | None = None,
    ) -> list[Hit]:
        """The top ``k`` passages for ``query``.

        ``vector`` is the query's embedding when the caller already has it: its QueryVectors
        (``Embedder.embed_query``: the vector and the token vectors the hybrid rerank reads, from
        one forward pass), or the vector alone (the token vectors are then made when needed).
        ``collections``: only documents of these collections (None: all, or the retriever's own).
        """
        if mode not in SEARCH_MODES:
            raise BadQuery(f"unknown search mode {mode!r}; choose one of {SEARCH_MODES}")
        if not query.strip():
            raise BadQuery("empty query")
        if k < 1:
            raise BadQuery(f"k must be at least 1, got {k}")
        allowed = meet(self.collections, None if collections is None else frozenset(collections))
        reranked = mode == "hybrid" and self.reranks()
        vectors = vector if isinstance(vector, QueryVectors) else None
        if reranked and vectors is None:
            vectors = self.embedder.embed_query(query)  # the vector and the token vectors: one forward pass
        if isinstance(vector, np.ndarray):
            plain: np.ndarray | None = vector
        else:
            plain = vectors.vector if vectors is not None else None
        found = self.found(query, max(k, self.fusion.depth), plain, allowed)
        if found is None:
            return []
        index, candidates = found
        if mode == "dense":
            score = candidates.dense
        elif mode == "bm25":
            score = candidates.bm25
        else:
            score = fuse(candidates.dense, candidates.bm25, self.fusion)
            if reranked and vectors is not None:
                score = rerank(index, vectors, candidates.rows, candidates.dense, candidates.bm25, score)
        order = np.argsort(-score, kind="stable")[:k]
        return [_hit(index, int(candidates.rows[i]), float(score[i]), candidates, int(i)) for i in order]

    def reranks(self) -> bool:
        """Whether hybrid searches are reranked by token match (the index stores token signs)."""
        return can_rerank(self.index)

    def found(
        self, query: str, depth: int, vector: np.ndarray | None, allowed: frozenset[str] | None
    ) -> tuple[StoredIndex, Candidates] | None:
        """The index the candidates' rows belong to and the candidates; None when there are none."""
        mask = None if allowed is None else self.index.chunk_mask(allowed)
        if len(self.index.chunks) == 0 or (mask is not None and not mask.any()):
            return None
        return self.index, self.candidates(query, depth, vector=vector, allowed=mask)

    def cover(self, hits: list[Hit]) -> None:
        """Make ``self.index`` hold the rows of ``hits`` (given, not found by ``search``): a store
        read per question needs it; the file index holds every row already."""

    def candidates(
        self, query: str, depth: int, vector: np.ndarray | None = None, allowed: np.ndarray | None = None
    ) -> Candidates:
        """Union of the dense and BM25 top-``depth`` rows, each scored by both retrievers; with
        ``allowed`` (a mask over the chunk rows), only rows it allows."""
        if vector is None:
            vector = self.embedder.embed([query])[0]
        _, dense_ids = self.index.dense.search(vector, depth, allowed=allowed)
        dense_rows = self.index.dense.rows(dense_ids)
        bm25_all = self.index.sparse.scores(query)
        if allowed is not None:
            bm25_all = np.where(allowed, bm25_all, 0.0).astype(bm25_all.dtype)
        depth = min(depth, len(bm25_all))
        bm25_rows = np.argpartition(-bm25_all, depth - 1)[:depth] if depth else np.zeros(0, dtype=np.int64)
        bm25_rows = bm25_rows[bm25_all[bm25_rows] > 0]  # a zero score means no query term matched
        rows = np.unique(np.concatenate([dense_rows, bm25_rows]))
        vectors = self.index.dense.vectors(self.index.chunks["id"][rows])
        dense = vectors @ vector if len(rows) else np.zeros(0, dtype=np.float32)
        return Candidates(rows, dense.astype(np.float64), bm25_all[rows].astype(np.float64))


def _hit(index: StoredIndex, row: int, score: float, candidates: Candidates, i: int) -> Hit:
    entry = index.chunks[row]
    doc = index.documents[int(entry["doc"])]
    start, end = int(entry["start"]), int(entry["end"])
    return Hit(
        chunk_id=int(entry["id"]),
        doc_id=doc.doc_id,
        title=doc.title,
        source=doc.source,
        page=doc.page_at(start),
        start=start,
        end=end,
        text=doc.quote(start, end),
        boxes=doc.boxes_for(start, end),
        score=score,
        scores=Scores(dense=float(candidates.dense[i]), bm25=float(candidates.bm25[i])),
    )


def meet(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    """The collections both limits allow (None: no limit)."""
    if a is None:
        return b
    return a if b is None else a & b
