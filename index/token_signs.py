"""Token states kept as sign bits, and how well a question's tokens find matches in a sentence's.

A sentence's vector (its tokens' mean) blurs which of the question's words it matches; matching
token by token (each question token against its best sentence token, averaged, as ColBERT
scores) keeps that. Token states are read from the chunk's forward pass at index time, like the
sentence vectors, so a sentence's tokens know their context; only one bit per dimension is kept
(48 bytes a token for MiniLM), which measured as good as float16 for this use (docs/answers.md).
"""

from __future__ import annotations

import math

import numpy as np


def pack_signs(states: np.ndarray) -> np.ndarray:
    """``(n, dim)`` token states -> ``(n, ceil(dim / 8))`` uint8 rows of their signs."""
    return np.packbits(np.asarray(states) > 0, axis=1)


def best_matches(question: np.ndarray, bits: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """For each span (``counts[i]`` consecutive rows of ``bits``) and each of the question's token
    vectors (unit rows of ``question``): its best match among the span's tokens, a match being the
    dot product with the token's signs scaled to a unit vector. NaN rows for spans without tokens."""
    counts = np.asarray(counts, dtype=np.int64)
    out = np.full((len(counts), len(question)), np.nan, dtype=np.float32)
    present = counts > 0
    if not present.any() or not len(question):
        return out
    dim = question.shape[1]
    signs = np.unpackbits(bits, axis=1, count=dim).astype(np.float32) * 2.0 - 1.0
    sims = signs @ (np.asarray(question, dtype=np.float32).T / np.float32(math.sqrt(dim)))
    # Spans without tokens own no rows, so the starts of the others partition the rows exactly.
    out[present] = np.maximum.reduceat(sims, (np.cumsum(counts) - counts)[present], axis=0)
    return out


def token_match(question: np.ndarray, bits: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """For each span: ``best_matches`` averaged over the question's tokens (ColBERT's MaxSim); 0 for
    a span without tokens."""
    counts = np.asarray(counts, dtype=np.int64)
    out = np.zeros(len(counts), dtype=np.float64)
    if not len(counts) or not len(question) or not counts.sum():
        return out
    present = counts > 0
    out[present] = best_matches(question, bits, counts)[present].mean(axis=1)
    return out
