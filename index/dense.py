"""Dense vector index: exact inner product over unit vectors. The only module that imports faiss.

``IndexIDMap2`` over ``IndexFlatIP`` keeps our own stable 64-bit chunk ids, so an update can
carry a document's vectors over under the same ids (a removed document's are simply not copied
into the new generation), and ``reconstruct`` gives a vector back for score fusion. Exact search
is fast enough at the corpus sizes we target (tens of thousands of chunks: a few ms a query).
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from qa.core.errors import IndexMismatch

faiss.omp_set_num_threads(1)  # one query at a time; threads cost more than they save here


class DenseIndex:
    def __init__(self, dim: int, index: faiss.Index | None = None) -> None:
        self.dim = dim
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def __len__(self) -> int:
        return self._index.ntotal

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise IndexMismatch(f"vectors of shape {vectors.shape} do not fit a {self.dim}-d index")
        if len(ids) != len(vectors):
            raise IndexMismatch(f"{len(ids)} ids for {len(vectors)} vectors")
        self._index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, ids) for one query vector; ids of -1 are dropped."""
        if len(self) == 0 or k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        scores, ids = self._index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return np.vstack([self._index.reconstruct(int(i)) for i in ids]) if len(ids) else np.zeros((0, self.dim))

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """All ``(ids, vectors)`` in insertion order, in one copy (an update's embedding cache)."""
        n = len(self)
        if n == 0:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.dim), dtype=np.float32)
        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        return ids, self._index.index.reconstruct_n(0, n)

    def save(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path, dim: int) -> DenseIndex:
        index = faiss.read_index(str(path))
        if index.d != dim:
            raise IndexMismatch(f"{path} holds {index.d}-d vectors, the embedder makes {dim}-d ones")
        return cls(dim, index)
