"""Dense vector search over unit vectors. The only module that imports faiss.

A generation keeps every chunk's float32 vector in chunk row order (``vectors.f32``, read
through a memory map), so ``vectors(ids)`` gives back exactly what the embedder made and the
scores fused and reranked never depend on how the index searches. How it searches depends on
its size:

- below ``DenseSettings.threshold`` chunks, **exact**: faiss's brute-force inner product
  (the same kernel ``IndexFlatIP`` runs) straight over the mapped vectors, with no copy;
- from there on, **approximate**: an HNSW graph over product-quantised codes (``dense.faiss``,
  labelled by row), read through a memory map too. It proposes ``refine`` times the asked
  number of rows, which are rescored exactly from the float vectors: the scores returned are
  exact, only which rows get proposed is approximate.

The graph is built on one thread with faiss's fixed seed, so the same vectors in the same row
order give the same bytes: an update builds exactly the index a full rebuild would.
Parameters were chosen by ``python -m eval.bench.scale`` (docs/benchmarks.md, "Scale") and
are recorded in each generation's manifest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import faiss
import numpy as np

from qa.core.errors import IndexMismatch

faiss.omp_set_num_threads(1)  # one query at a time (threads cost more than they save), and deterministic builds

EXACT = "exact"
APPROXIMATE = "hnsw-pq"
_TRAIN_ROWS = 65_536  # 256 per centroid of each sub-quantiser: faiss would subsample a larger sample to this
MIN_APPROXIMATE_ROWS = 1024  # fewer cannot train 256 centroids per sub-quantiser (and search exactly in no time)
_TRAIN_SEED = 0


@dataclass(frozen=True, slots=True)
class DenseSettings:
    """How a generation's dense index is built and searched (recorded in its manifest)."""

    threshold: int = 100_000  # chunks from which the index is approximate
    hnsw_m: int = 32  # graph neighbours per node
    pq_bytes_per_dim: float = 0.25  # product quantiser code bytes per dimension (384-d: 96 bytes)
    ef_construction: int = 40
    ef_search: int = 1024
    refine: int = 4  # rows proposed per row asked, rescored exactly

    def __post_init__(self) -> None:
        if self.threshold < 1 or self.hnsw_m < 2 or self.ef_search < 1 or self.refine < 1:
            raise IndexMismatch(f"bad dense index settings {self.to_json()}")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> DenseSettings:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})

    def pq_m(self, dim: int) -> int:
        """Sub-quantisers of the product quantiser: a divisor of ``dim`` near ``dim * pq_bytes_per_dim``."""
        target = max(1, round(dim * self.pq_bytes_per_dim))
        return min((m for m in range(1, dim + 1) if dim % m == 0), key=lambda m: (abs(m - target), m))

    def factory(self, dim: int) -> str:
        return f"HNSW{self.hnsw_m},PQ{self.pq_m(dim)}np"


class DenseIndex:
    """Chunk ids and their unit vectors, row by row, and an optional approximate index over the rows."""

    def __init__(
        self,
        ids: np.ndarray,
        vectors: np.ndarray,
        settings: DenseSettings = DenseSettings(),
        ann: faiss.Index | None = None,
    ) -> None:
        if vectors.ndim != 2 or len(ids) != len(vectors):
            raise IndexMismatch(f"{len(ids)} ids for vectors of shape {vectors.shape}")
        if ann is not None and (ann.ntotal != len(ids) or ann.d != vectors.shape[1]):
            raise IndexMismatch(f"an approximate index of {ann.ntotal} {ann.d}-d vectors for {vectors.shape}")
        self.ids = ids
        self.dim = int(vectors.shape[1])
        self.settings = settings
        self._vectors = vectors
        self._ann = ann

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, settings: DenseSettings = DenseSettings()) -> DenseIndex:
        """Exact below ``settings.threshold`` rows, else with the approximate index built over ``vectors``
        (which may be a memory map: only the quantiser's training sample is copied)."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids) < max(settings.threshold, MIN_APPROXIMATE_ROWS):
            return cls(ids, vectors, settings)
        dim = int(vectors.shape[1])
        ann = faiss.index_factory(dim, settings.factory(dim), faiss.METRIC_INNER_PRODUCT)
        ann.hnsw.efConstruction = settings.ef_construction
        rng = np.random.default_rng(_TRAIN_SEED)
        sample = np.sort(rng.choice(len(ids), size=min(len(ids), _TRAIN_ROWS), replace=False))
        faiss.downcast_index(ann.storage).pq.cp.min_points_per_centroid = 4  # no warning for small samples
        ann.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
        for start in range(0, len(ids), 65_536):  # rows are the labels: HNSW numbers what it is given in order
            ann.add(np.ascontiguousarray(vectors[start : start + 65_536], dtype=np.float32))
        return cls(ids, vectors, settings, ann)

    @property
    def kind(self) -> str:
        return EXACT if self._ann is None else APPROXIMATE

    def describe(self) -> dict:
        """The manifest's record of this index: its kind and the settings it was built and is searched with."""
        built = {"factory": self.settings.factory(self.dim), "train_rows": min(len(self), _TRAIN_ROWS)}
        return {"kind": self.kind, **self.settings.to_json(), **(built if self._ann is not None else {})}

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (exact scores, chunk ids) for one query vector, best first; with ``allowed`` (a
        mask over the rows), among those rows only, so ``k`` still come back when they are few."""
        if len(self) == 0 or k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        if allowed is not None:
            return self._search_within(query, k, np.asarray(allowed, dtype=bool))
        if self._ann is None:
            scores, rows = faiss.knn(query, self._vectors, min(k, len(self)), metric=faiss.METRIC_INNER_PRODUCT)
            keep = rows[0] >= 0
            return scores[0][keep], self.ids[rows[0][keep]]
        wanted = min(len(self), k * self.settings.refine)
        params = faiss.SearchParametersHNSW(efSearch=max(self.settings.ef_search, wanted))
        _, proposed = self._ann.search(query, wanted, params=params)
        rows = np.unique(proposed[0][proposed[0] >= 0])  # ascending: the mapped file is read in order
        scores = np.asarray(self._vectors[rows] @ query[0], dtype=np.float32)
        best = np.argsort(-scores, kind="stable")[:k]
        return scores[best], self.ids[rows[best]]

    def _search_within(self, query: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = np.flatnonzero(allowed)
        k = min(k, len(rows))
        if k == 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        if self._ann is not None:
            wanted = min(len(rows), k * self.settings.refine)
            # The id array must outlive the search: with a temporary one, the selector read freed
            # memory (measured: recall@5 0.33 against 0.97 unfiltered on 1,200 of 1,500 rows).
            labels = np.ascontiguousarray(rows, dtype=np.int64)
            selector = faiss.IDSelectorBatch(len(labels), faiss.swig_ptr(labels))
            params = faiss.SearchParametersHNSW(efSearch=max(self.settings.ef_search, wanted), sel=selector)
            _, proposed = self._ann.search(query, wanted, params=params)
            del labels, selector
            found = np.unique(proposed[0][proposed[0] >= 0])
            found = found[allowed[found]]
            if len(found) >= k:  # else the graph missed too many: the exact scan over the allowed rows
                scores = np.asarray(self._vectors[found] @ query[0], dtype=np.float32)
                best = np.argsort(-scores, kind="stable")[:k]
                return scores[best], self.ids[found[best]]
        if 2 * len(rows) <= len(self) or self._ann is not None:  # few allowed rows: scan just those
            scores, at = faiss.knn(
                query, np.ascontiguousarray(self._vectors[rows], dtype=np.float32), k, metric=faiss.METRIC_INNER_PRODUCT
            )
            keep = at[0] >= 0
            return scores[0][keep], self.ids[rows[at[0][keep]]]
        # Most rows allowed: the top k + (rows not allowed) of all rows hold the top k allowed ones.
        depth = min(len(self), k + len(self) - len(rows))
        scores, at = faiss.knn(query, self._vectors, depth, metric=faiss.METRIC_INNER_PRODUCT)
        picked = at[0][(at[0] >= 0)]
        keep = allowed[picked]
        return scores[0][at[0] >= 0][keep][:k], self.ids[picked[keep][:k]]

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored float32 vectors of chunk ``ids`` (a copy), in the order given."""
        if not len(ids):
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._vectors[self.rows(ids)], dtype=np.float32)

    def rows(self, ids: np.ndarray) -> np.ndarray:
        """Row of each chunk id; IndexMismatch naming an id this index does not hold."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        at = np.minimum(np.searchsorted(self._sorted_ids, ids), max(len(self) - 1, 0))
        found = self._sorted_ids[at] == ids if len(self) else np.zeros(len(ids), dtype=bool)
        if not found.all():
            raise IndexMismatch(f"chunk id {int(ids[~found][0])} is not in this index")
        return self._order[at]

    @cached_property
    def _order(self) -> np.ndarray:
        return np.argsort(self.ids, kind="stable")

    @cached_property
    def _sorted_ids(self) -> np.ndarray:
        return self.ids[self._order]

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """All ``(ids, vectors)`` in row order, without a copy (an update's embedding cache)."""
        return self.ids, self._vectors

    def save(self, path: Path) -> None:
        """Write the approximate index (the vectors are the caller's file); nothing for an exact one."""
        if self._ann is not None:
            faiss.write_index(self._ann, str(path))

    @classmethod
    def load(cls, ids: np.ndarray, vectors: np.ndarray, described: dict, path: Path) -> DenseIndex:
        """The index a manifest ``described``; an approximate one is mapped from ``path``, not read."""
        settings = DenseSettings.from_json(described)
        kind = described.get("kind", EXACT)
        if kind == EXACT:
            return cls(ids, vectors, settings)
        if kind != APPROXIMATE:
            raise IndexMismatch(f"{path}: unknown dense index kind {kind!r}")
        if not path.is_file():
            raise IndexMismatch(f"{path} is missing: the manifest says the dense index is {kind}")
        ann = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
        return cls(ids, vectors, settings, ann)

    @classmethod
    def load_flat(cls, path: Path, dim: int) -> DenseIndex:
        """A format-1 ``dense.faiss`` (an ``IndexIDMap2`` over ``IndexFlatIP``), read into memory."""
        index = faiss.read_index(str(path))
        if index.d != dim:
            raise IndexMismatch(f"{path} holds {index.d}-d vectors, the embedder makes {dim}-d ones")
        ids = faiss.vector_to_array(index.id_map).astype(np.int64) if index.ntotal else np.zeros(0, np.int64)
        vectors = index.index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, dim), np.float32)
        return cls(ids, vectors)
