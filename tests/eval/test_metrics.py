"""Retrieval metrics against hand-computed values, plus the properties any ranking must satisfy."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eval.metrics import dedupe, hit_at_k, mrr_at_k, ndcg_at_k, percentile, recall_at_k

L2 = math.log2


# --- dedupe ---------------------------------------------------------------------------------


def test_dedupe_keeps_first_occurrences_in_order() -> None:
    assert dedupe(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]
    assert dedupe(iter(["x", "x"])) == ["x"]
    assert dedupe([]) == []


# --- recall / hit / mrr ---------------------------------------------------------------------


def test_recall_hand_cases() -> None:
    ranked = ["x", "a", "y", "b", "z"]
    # relevant {a, b, c}: top-2 holds a -> 1/3; top-4 holds a, b -> 2/3; c never retrieved.
    assert recall_at_k(ranked, {"a", "b", "c"}, 2) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, {"a", "b", "c"}, 4) == pytest.approx(2 / 3)
    # k beyond the list behaves like the whole list.
    assert recall_at_k(ranked, {"a", "b", "c"}, 100) == pytest.approx(2 / 3)
    assert recall_at_k(ranked, {"q"}, 5) == 0.0


def test_recall_counts_duplicates_once() -> None:
    # "a" twice in the top 3 is still one of the two relevant docs: 1/2, not 2/2.
    assert recall_at_k(["a", "a", "x"], ["a", "b"], 3) == 0.5
    # A relevant list with a repeated id is the set {a}.
    assert recall_at_k(["a"], ["a", "a"], 1) == 1.0


def test_hit_hand_cases() -> None:
    assert hit_at_k(["x", "y", "a"], {"a"}, 2) == 0.0
    assert hit_at_k(["x", "y", "a"], {"a"}, 3) == 1.0
    assert hit_at_k(["a", "b"], {"a", "b"}, 1) == 1.0  # one of several is enough
    assert hit_at_k([], {"a"}, 10) == 0.0


def test_mrr_hand_cases() -> None:
    # first relevant at rank 3 -> 1/3, but invisible at k=2.
    assert mrr_at_k(["x", "y", "a", "b"], {"a", "b"}, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["x", "y", "a", "b"], {"a", "b"}, 2) == 0.0
    assert mrr_at_k(["a"], {"a"}, 1) == 1.0
    # A duplicate before the relevant id still occupies a rank (the caller dedupes chunk hits).
    assert mrr_at_k(["x", "x", "a"], {"a"}, 3) == pytest.approx(1 / 3)


@pytest.mark.parametrize("fn", [recall_at_k, hit_at_k, mrr_at_k])
def test_bad_arguments_are_named(fn) -> None:
    with pytest.raises(ValueError, match="k=0"):
        fn(["a"], {"a"}, 0)
    with pytest.raises(ValueError, match="relevant"):
        fn(["a"], set(), 1)


# --- nDCG -----------------------------------------------------------------------------------


def test_ndcg_graded_hand_case() -> None:
    # relevance {a:2, b:1}, ranked [b, x, a]:
    #   DCG  = 1/log2(2) + 0/log2(3) + 2/log2(4) = 1 + 1 = 2
    #   IDCG = 2/log2(2) + 1/log2(3)             = 2 + 0.63093 = 2.63093
    expected = (1 / L2(2) + 2 / L2(4)) / (2 / L2(2) + 1 / L2(3))
    assert ndcg_at_k(["b", "x", "a"], {"a": 2, "b": 1}, 10) == pytest.approx(expected)
    assert expected == pytest.approx(0.76019, abs=1e-5)  # 2 / 2.63093


def test_ndcg_cutoff_truncates_both_dcg_and_idcg() -> None:
    # k=1, ranked [b, ...]: DCG = 1/log2(2) = 1; IDCG@1 = 2/log2(2) = 2 -> 0.5.
    assert ndcg_at_k(["b", "x", "a"], {"a": 2, "b": 1}, 1) == pytest.approx(0.5)
    # Three relevant docs, k=2: IDCG@2 = 1 + 1/log2(3); a at rank 2 alone -> (1/log2(3)) / IDCG@2.
    rel = {"a": 1, "b": 1, "c": 1}
    assert ndcg_at_k(["x", "a"], rel, 2) == pytest.approx((1 / L2(3)) / (1 + 1 / L2(3)))


def test_ndcg_uses_linear_gain_not_exponential() -> None:
    # relevance {a:3, b:1}, ranked [b, a]. Linear: (1 + 3/log2(3)) / (3 + 1/log2(3)).
    # Exponential (2^rel-1) would be (1 + 7/log2(3)) / (7 + 1/log2(3)) — a different number.
    linear = (1 + 3 / L2(3)) / (3 + 1 / L2(3))
    assert ndcg_at_k(["b", "a"], {"a": 3, "b": 1}, 10) == pytest.approx(linear)


def test_ndcg_ignores_zero_and_negative_judgements() -> None:
    # trec_eval only counts gains > 0, and leaves them out of the ideal ranking too.
    rel = {"a": 1, "z": 0, "n": -1}
    # ranked [n, z, a]: DCG = 1/log2(4) = 0.5; IDCG = 1/log2(2) = 1.
    assert ndcg_at_k(["n", "z", "a"], rel, 10) == pytest.approx(0.5)


def test_ndcg_edge_cases() -> None:
    assert ndcg_at_k([], {"a": 1}, 10) == 0.0
    assert ndcg_at_k(["x", "y"], {"a": 1}, 10) == 0.0
    assert ndcg_at_k(["a"], {"a": 1}, 10) == 1.0
    # Duplicates count once: [a, a, b] is ranked as [a, b] -> ideal -> 1.0.
    assert ndcg_at_k(["a", "a", "b"], {"a": 1, "b": 1}, 10) == pytest.approx(1.0)
    # ... including for the cut: with k=2, [a, a, b] still reaches b.
    assert ndcg_at_k(["a", "a", "b"], {"a": 1, "b": 1}, 2) == pytest.approx(1.0)


def test_ndcg_bad_arguments() -> None:
    with pytest.raises(ValueError, match="k=0"):
        ndcg_at_k(["a"], {"a": 1}, 0)
    with pytest.raises(ValueError, match="relevance"):
        ndcg_at_k(["a"], {"a": 0}, 5)


# --- properties -----------------------------------------------------------------------------

ids = st.sampled_from([f"d{i}" for i in range(12)])
rankings = st.lists(ids, max_size=15)
relevances = st.dictionaries(ids, st.integers(min_value=0, max_value=3), min_size=1).filter(
    lambda r: any(v > 0 for v in r.values())
)


@given(rankings, relevances, st.integers(min_value=1, max_value=20))
def test_ndcg_is_between_zero_and_one(ranked: list[str], relevance: dict[str, int], k: int) -> None:
    assert 0.0 <= ndcg_at_k(ranked, relevance, k) <= 1.0 + 1e-12


@given(relevances, st.integers(min_value=1, max_value=20))
def test_ndcg_of_ideal_ordering_is_one(relevance: dict[str, int], k: int) -> None:
    ideal = sorted((d for d, r in relevance.items() if r > 0), key=lambda d: -relevance[d])
    assert ndcg_at_k(ideal, relevance, k) == pytest.approx(1.0)


@given(rankings, st.sets(ids, min_size=1))
def test_recall_and_hit_are_monotone_in_k(ranked: list[str], relevant: set[str]) -> None:
    recalls = [recall_at_k(ranked, relevant, k) for k in range(1, 18)]
    hits = [hit_at_k(ranked, relevant, k) for k in range(1, 18)]
    mrrs = [mrr_at_k(ranked, relevant, k) for k in range(1, 18)]
    for seq in (recalls, hits, mrrs):
        assert all(a <= b for a, b in itertools.pairwise(seq))
        assert all(0.0 <= v <= 1.0 for v in seq)
    # Hit is recall's "any" version: positive exactly when recall is.
    assert all((h > 0) == (r > 0) for h, r in zip(hits, recalls, strict=True))


# --- percentile -----------------------------------------------------------------------------


def test_percentile_hand_cases() -> None:
    # [1, 2, 3, 4]: position of p50 = 3 * 0.5 = 1.5 -> 2 + 0.5 * (3 - 2) = 2.5.
    assert percentile([4, 1, 3, 2], 50) == 2.5
    # p90: position 2.7 -> 3 + 0.7 * (4 - 3) = 3.7.
    assert percentile([1, 2, 3, 4], 90) == pytest.approx(3.7)
    assert percentile([1, 2, 3, 4], 0) == 1
    assert percentile([1, 2, 3, 4], 100) == 4
    assert percentile([7.5], 95) == 7.5


def test_percentile_bad_arguments() -> None:
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)
    with pytest.raises(ValueError, match="q=101"):
        percentile([1.0], 101)
    with pytest.raises(ValueError, match="NaN"):
        percentile([1.0, math.nan], 50)


@given(
    st.lists(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), min_size=1, max_size=40),
    st.floats(min_value=0, max_value=100),
)
def test_percentile_matches_numpy(values: list[float], q: float) -> None:
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-12, abs=1e-9)
