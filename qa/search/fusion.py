"""Fusing dense and BM25 scores of the same candidates into one ranking.

Every candidate (the union of both retrievers' top lists) carries both scores, since we
score the union exactly with both retrievers. So fusion is a function of two aligned
score arrays. Plain reciprocal-rank fusion throws the score gaps away: when BM25 is very
sure (one passage far ahead, as on SQuAD-style questions that reuse the passage's words)
RRF still lets a mediocre dense rank pull another passage above it. Normalising each
score list per query (z-scores over the candidates) and adding them with a weight keeps
those gaps; docs/benchmarks.md has the measurements behind the default.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.core.errors import QAError

FUSION_METHODS = ("zscore", "minmax", "rrf")


@dataclass(frozen=True, slots=True)
class FusionSettings:
    """``dense_weight`` in [0, 1] weighs dense against BM25; ``depth`` candidates per retriever."""

    method: str = "zscore"
    dense_weight: float = 0.5
    depth: int = 100
    rrf_k: int = 60

    def __post_init__(self) -> None:
        if self.method not in FUSION_METHODS:
            raise QAError(f"unknown fusion method {self.method!r}; choose one of {FUSION_METHODS}")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise QAError(f"dense_weight must be in [0, 1], got {self.dense_weight}")
        if self.depth < 1:
            raise QAError(f"depth must be at least 1, got {self.depth}")

    def to_json(self) -> dict:
        return {"method": self.method, "dense_weight": self.dense_weight, "depth": self.depth, "rrf_k": self.rrf_k}


def fuse(dense: np.ndarray, bm25: np.ndarray, settings: FusionSettings) -> np.ndarray:
    """Fused score of each candidate (higher is better); inputs are aligned arrays."""
    w = settings.dense_weight
    if settings.method == "rrf":
        return w * _rrf(dense, settings.rrf_k) + (1 - w) * _rrf(bm25, settings.rrf_k)
    normalise = zscore if settings.method == "zscore" else _minmax
    return w * normalise(dense) + (1 - w) * normalise(bm25)


def zscore(x: np.ndarray) -> np.ndarray:
    std = x.std()
    return (x - x.mean()) / std if std > 1e-9 else np.zeros_like(x, dtype=np.float64)


def _minmax(x: np.ndarray) -> np.ndarray:
    span = x.max() - x.min() if len(x) else 0.0
    return (x - x.min()) / span if span > 1e-9 else np.zeros_like(x, dtype=np.float64)


def _rrf(x: np.ndarray, k: int) -> np.ndarray:
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[np.argsort(-x, kind="stable")] = np.arange(1, len(x) + 1)
    return 1.0 / (k + ranks)
