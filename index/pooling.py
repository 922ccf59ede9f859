"""Late pooling: a text's vector, its spans' vectors and their token signs from one forward pass.

The MiniLM backends (torch in index/embedding.py, ONNX Runtime in index/onnx_embedding.py) differ
only in how they run the model: each yields, per text, the mean of its token states and the states
and character offsets of its word pieces, and everything else is made here from those.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from index.token_signs import pack_signs

Spans = Sequence[tuple[int, int]]


@dataclass(frozen=True)
class SpanVectors:
    """Unit vectors of whole texts (``texts``) and of character spans inside them (``spans``:
    every span of the first text, then of the second, ...), each span read in its text's context;
    and the sign bits of each span's token states (``token_bits``, ``token_counts[i]`` rows for
    span i, spans in the same order; index/token_signs.py)."""

    texts: np.ndarray
    spans: np.ndarray
    token_bits: np.ndarray
    token_counts: np.ndarray


@dataclass(frozen=True)
class QueryVectors:
    """A question's unit vector (as ``embed`` makes it) and a unit vector per token, from one pass."""

    vector: np.ndarray
    tokens: np.ndarray


class LatePooling:
    """Span vectors, token signs and query vectors from one forward pass per text: what every
    MiniLM backend shares. A backend supplies ``dim`` and ``_forward``."""

    dim: int

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Unit text vectors: the mean of each text's token states (a backend may encode faster)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, vector, _, _ in self._forward(texts):
            out[i] = vector
        return np.ascontiguousarray(unit_rows(out), dtype=np.float32)

    def _forward(self, texts: list[str]) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """``(i, text vector, token states, token offsets)`` for each of ``texts``, in any order: the
        mean of all of ``texts[i]``'s token states (not yet unit), and the states and character
        ranges of its word pieces, special tokens left out."""
        raise NotImplementedError

    def embed_spans(self, texts: list[str], spans: Sequence[Spans]) -> SpanVectors:
        """Late pooling: a span's vector is the mean of its tokens' states from the forward pass
        of its whole text, so a sentence is read with its title and neighbours ("He was born in
        1820" knows who "he" is) at no extra model cost. Mean pooling of all tokens is exactly how
        this model makes the text vector, so both come from one pass. The same token states,
        reduced to their signs, are the span's token bits."""
        if len(spans) != len(texts):
            raise ValueError(f"{len(spans)} span lists for {len(texts)} texts")
        if not texts:
            return _no_spans(self.dim)
        text_vectors, pooled, signs = self._late_pool(texts, spans)
        # Spans past the model's 256 word pieces have no token states: they are read alone.
        cut_off = [(i, k) for i, row in enumerate(pooled) for k, vector in enumerate(row) if vector is None]
        if cut_off:
            pieces = [texts[i][spans[i][k][0] : spans[i][k][1]] for i, k in cut_off]
            _, alone, alone_signs = self._late_pool(pieces, [[(0, len(piece))] for piece in pieces])
            fallback = self.embed(pieces)  # a piece of blanks has no tokens at all
            for j, (i, k) in enumerate(cut_off):
                pooled[i][k] = alone[j][0] if alone[j][0] is not None else fallback[j]
                signs[i][k] = alone_signs[j][0]
        matrix = np.array([v for row in pooled for v in row], dtype=np.float32).reshape(-1, self.dim)
        flat = [s for row in signs for s in row]
        bits = np.concatenate(flat) if flat else pack_signs(np.zeros((0, self.dim)))
        counts = np.array([len(s) for s in flat], dtype=np.int32)
        return SpanVectors(np.ascontiguousarray(unit_rows(text_vectors)), matrix, bits, counts)

    def _late_pool(
        self, texts: list[str], spans: Sequence[Spans]
    ) -> tuple[np.ndarray, list[list[np.ndarray | None]], list[list[np.ndarray]]]:
        """Text vectors, and per span its pooled vector (None without tokens) and its tokens' signs
        (packed at once: float states of every token of a large batch would not fit in memory)."""
        text_vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        pooled: list[list[np.ndarray | None]] = [[] for _ in texts]
        signs: list[list[np.ndarray]] = [[] for _ in texts]
        for i, vector, tokens, offsets in self._forward(texts):
            text_vectors[i] = vector
            for start, end in spans[i]:
                inside = (offsets[:, 0] < end) & (offsets[:, 1] > start)
                pooled[i].append(unit(tokens[inside].mean(axis=0)) if inside.any() else None)
                signs[i].append(pack_signs(tokens[inside]))
        return text_vectors, pooled, signs

    def embed_query(self, text: str) -> QueryVectors:
        # Unpacking runs the generator to its end, so its thread setting is restored at once.
        ((_, vector, tokens, _),) = self._forward([text])
        return QueryVectors(unit(vector.astype(np.float32)), unit_rows(tokens.astype(np.float32)))

    def warm_up(self) -> None:
        """Load the model now (the first query would pay for it otherwise)."""
        self.embed(["warm up"])


def _no_spans(dim: int) -> SpanVectors:
    empty = np.zeros((0, dim), np.float32)
    return SpanVectors(empty, empty, pack_signs(empty), np.zeros(0, np.int32))


def unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms
