from __future__ import annotations

import numpy as np
import pytest

from qa.core.errors import QAError
from qa.search.fusion import FusionSettings, fuse


def test_zscore_fusion_by_hand() -> None:
    dense = np.array([0.9, 0.5, 0.1])  # mean 0.5, std 0.3266
    bm25 = np.array([0.0, 10.0, 5.0])  # mean 5, std 4.0825
    fused = fuse(dense, bm25, FusionSettings("zscore", 0.5))
    expected = 0.5 * (dense - 0.5) / dense.std() + 0.5 * (bm25 - 5.0) / bm25.std()
    np.testing.assert_allclose(fused, expected)
    assert np.argmax(fused) == 1  # the BM25 gap wins at equal weights


def test_minmax_and_rrf_by_hand() -> None:
    dense = np.array([0.9, 0.5, 0.1])
    bm25 = np.array([0.0, 10.0, 5.0])
    np.testing.assert_allclose(fuse(dense, bm25, FusionSettings("minmax", 0.25)), [0.25, 0.875, 0.375])
    # ranks: dense 1,2,3; bm25 3,1,2
    rrf = fuse(dense, bm25, FusionSettings("rrf", 0.5, rrf_k=60))
    np.testing.assert_allclose(rrf, [0.5 / 61 + 0.5 / 63, 0.5 / 62 + 0.5 / 61, 0.5 / 63 + 0.5 / 62])


def test_weights_at_the_ends_reproduce_one_retriever() -> None:
    rng = np.random.default_rng(0)
    dense, bm25 = rng.random(50), rng.random(50) * 20
    for method in ("zscore", "minmax", "rrf"):
        assert list(np.argsort(-fuse(dense, bm25, FusionSettings(method, 1.0)))) == list(np.argsort(-dense))
        assert list(np.argsort(-fuse(dense, bm25, FusionSettings(method, 0.0)))) == list(np.argsort(-bm25))


def test_constant_scores_do_not_divide_by_zero() -> None:
    fused = fuse(np.ones(4), np.zeros(4), FusionSettings("zscore", 0.5))
    assert np.all(np.isfinite(fused))


def test_settings_are_validated() -> None:
    with pytest.raises(QAError, match="'borda'"):
        FusionSettings("borda")
    with pytest.raises(QAError, match=r"1\.5"):
        FusionSettings(dense_weight=1.5)
